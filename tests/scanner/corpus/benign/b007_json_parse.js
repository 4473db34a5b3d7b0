export function load(text) {
  const data = JSON.parse(text);
  return JSON.stringify(data, null, 2);
}
