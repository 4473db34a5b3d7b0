// node:os — constant, non-identifying answers. homedir()/tmpdir() come from host.info() (the supervisor picks
// workspace-safe values; falls back to the workspace cwd and /tmp), never from the real machine.
import * as host from "pi:host";

let cached = null;
const info = () => (cached || (cached = host.info() || {}));

export const EOL = "\n";
export const devNull = "/dev/null";
export function homedir() { return info().homedir || info().home || info().cwd || "/"; }
export function tmpdir() { return info().tmpdir || "/tmp"; }
export function platform() { return "linux"; }
export function type() { return "Linux"; }
export function arch() { return "x64"; }
export function machine() { return "x86_64"; }
export function release() { return "6.0.0-pi-sandbox"; }
export function version() { return "#1 SMP pi-sandbox"; }
export function hostname() { return "pi-sandbox"; }
export function endianness() { return "LE"; }
export function uptime() { return Math.floor(performance.now() / 1000); }
export function loadavg() { return [0, 0, 0]; }
export function totalmem() { return 256 * 1024 * 1024; }
export function freemem() { return 128 * 1024 * 1024; }
export function availableParallelism() { return 1; }
export function cpus() {
  return [{ model: "pi-sandbox virtual cpu", speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }];
}
export function networkInterfaces() { return {}; }
export function userInfo() {
  return { username: "pi", uid: 1000, gid: 1000, shell: null, homedir: homedir() };
}
export function getPriority() { return 0; }
export function setPriority() {}
export const constants = {
  signals: { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 },
  errno: { ENOENT: 2, EACCES: 13, EEXIST: 17 },
  priority: { PRIORITY_NORMAL: 0 },
};

export default {
  EOL, devNull, homedir, tmpdir, platform, type, arch, machine, release, version, hostname, endianness, uptime,
  loadavg, totalmem, freemem, availableParallelism, cpus, networkInterfaces, userInfo, getPriority, setPriority,
  constants,
};
