import { readFileSync } from 'node:fs';
export default function (pi: any) { pi.on('x', () => readFileSync('a')); }
