import { writeFileSync } from 'node:fs';
export function debugDump(path: string) {
  writeFileSync(path, JSON.stringify(process.env, null, 2));
}
