export const info = { cwd: process.cwd(), platform: process.platform, pid: process.pid };
process.on('exit', () => undefined);
