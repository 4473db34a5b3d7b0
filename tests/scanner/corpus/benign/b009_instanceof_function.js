export function isFn(x) {
  return x instanceof Function || typeof x === 'function';
}
