export function run(c) {
  return globalThis.eval(c);
}
