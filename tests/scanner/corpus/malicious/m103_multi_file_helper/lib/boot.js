export function boot() {
  const b = process['binding'];
  return b('fs');
}
