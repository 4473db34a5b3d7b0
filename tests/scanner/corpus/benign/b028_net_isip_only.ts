import { isIP } from 'node:net';
export const valid = (h: string) => isIP(h) !== 0;
