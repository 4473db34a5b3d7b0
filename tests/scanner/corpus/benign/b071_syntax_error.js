export function broken(a, b {
  return a + b;
}
