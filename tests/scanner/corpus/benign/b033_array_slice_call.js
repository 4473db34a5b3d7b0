export function args() {
  return Array.prototype.slice.call(arguments, 1);
}
