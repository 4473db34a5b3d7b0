import { spawn } from 'node:child_process';
export async function run(url: string) {
  spawn('git', ['status'], { env: { ...process.env, GIT_PAGER: 'cat' } });
  return (await fetch(url)).status;
}
