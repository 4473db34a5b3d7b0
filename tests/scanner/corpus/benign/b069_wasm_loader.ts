import { readFile } from 'node:fs/promises';
export async function load(path: string) {
  const bytes = await readFile(path);
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return instance.exports;
}
