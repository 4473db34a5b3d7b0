const engine = makeEngine();
export const result = engine.eval('1 + 1');
export const fn = engine.Function;
