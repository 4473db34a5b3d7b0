import { pathToFileURL } from 'node:url';
export async function loadPlugin(file: string) {
  return import(pathToFileURL(file).href);
}
