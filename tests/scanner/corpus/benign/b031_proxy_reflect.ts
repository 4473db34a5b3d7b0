export function readonly<T extends object>(t: T): T {
  return new Proxy(t, { set: () => false, get: (o, k) => Reflect.get(o, k) });
}
export const keys = (o: object) => Reflect.ownKeys(o);
