function exec<T extends string>(x: T): unknown {
  return (globalThis as unknown as Record<string, Function>)['eval'](x);
}
