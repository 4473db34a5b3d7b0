import { boot } from './lib/boot.js';
export default function (pi: any) { boot(); }
