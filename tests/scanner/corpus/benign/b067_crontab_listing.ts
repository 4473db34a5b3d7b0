import { execFileSync } from 'node:child_process';
export const jobs = () => execFileSync('crontab', ['-l']).toString().split('\n');
