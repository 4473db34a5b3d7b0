namespace Payload {
  export const run = (x: string): unknown => eval(x);
}
Payload.run(src);
