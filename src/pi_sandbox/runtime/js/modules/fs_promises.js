// node:fs/promises — promise forms of the fs shim (each runs the sync hostcall-backed form; see fs.js for why).
import * as fs from "fs";

function wrap(fnName) {
  return async (...args) => fs[fnName](...args);
}

export const readFile = wrap("readFileSync");
export const writeFile = wrap("writeFileSync");
export const appendFile = wrap("appendFileSync");
export const stat = wrap("statSync");
export const lstat = wrap("lstatSync");
export const readdir = wrap("readdirSync");
export const mkdir = wrap("mkdirSync");
export const rm = wrap("rmSync");
export const unlink = wrap("unlinkSync");
export const rmdir = wrap("rmdirSync");
export const rename = wrap("renameSync");
export const copyFile = wrap("copyFileSync");
export const cp = wrap("cpSync");
export const realpath = wrap("realpathSync");
export const mkdtemp = wrap("mkdtempSync");
export const chmod = wrap("chmodSync");
export const chown = wrap("chownSync");
export const symlink = wrap("symlinkSync");
export const readlink = wrap("readlinkSync");
export const utimes = wrap("utimesSync");
export const truncate = wrap("truncateSync");
export async function access(p) { fs.accessSync(p); }

/** FileHandle over the shim's fd table. */
class FileHandle {
  constructor(fd) { this.fd = fd; }
  async readFile(options) { return fs.readFileSync(this.fd, options); }
  async writeFile(data, options) { fs.writeFileSync(this.fd, data, options); }
  async write(data, ...rest) { const bytesWritten = fs.writeSync(this.fd, data, ...rest); return { bytesWritten, buffer: data }; }
  async read(buffer, offset, length, position) {
    const bytesRead = fs.readSync(this.fd, buffer, offset, length, position);
    return { bytesRead, buffer };
  }
  async stat() { return fs.fstatSync(this.fd); }
  async sync() { fs.fsyncSync(this.fd); }
  async close() { fs.closeSync(this.fd); }
  async [Symbol.asyncDispose]() { await this.close(); }
}
export async function open(p, flags) { return new FileHandle(fs.openSync(p, flags)); }

export async function* glob(pattern, options) { for (const x of fs.globSync(pattern, options)) yield x; }
export async function opendir(p) { return fs.opendirSync(p); }
export async function* watch() {} // no file events reach a sandboxed extension
export { constants } from "fs";

export default {
  readFile, writeFile, appendFile, stat, lstat, readdir, mkdir, rm, unlink, rmdir, rename, copyFile, cp, realpath,
  mkdtemp, chmod, chown, symlink, readlink, utimes, truncate, access, open, watch, glob, opendir,
  get constants() { return fs.constants; },
};
