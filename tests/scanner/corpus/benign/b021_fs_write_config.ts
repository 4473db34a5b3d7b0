import * as fs from 'node:fs';
import * as path from 'node:path';
export function save(dir: string, data: unknown) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(data));
}
