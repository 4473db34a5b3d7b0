// node:tls — loads for every extension; a TLS client connection is a `net` hostcall (`connect` with tls: true,
// capability `http`), a TLS server a `listen` (`exec`). See net.js and pi:effects.
import { Socket, Server, isIP } from "net";

export class TLSSocket extends Socket {
  constructor(socket, options = {}) {
    super(options);
    this._tls = true;
    this.encrypted = true;
    this.authorized = false;
    this.alpnProtocol = false;
  }
  getPeerCertificate() { return {}; }
  getCipher() { return null; }
  getProtocol() { return null; }
}

export function connect(...args) {
  const options = args[0] !== null && typeof args[0] === "object" ? args[0] : {};
  const socket = new TLSSocket(null, options);
  const host = options.host ?? (typeof args[1] === "string" ? args[1] : undefined);
  if (!options.servername && host && !isIP(host)) socket.servername = host;
  return socket.connect(...args);
}

class TlsServer extends Server {
  constructor(options, listener) {
    super(options, listener);
    this._kind = "tls";
  }
}
export { TlsServer as Server };

export function createServer(options, listener) {
  return new TlsServer(options, listener);
}

export function createSecureContext(options = {}) {
  return { context: {}, options };
}

export function checkServerIdentity() {
  return undefined;
}

export function getCiphers() {
  return ["tls_aes_128_gcm_sha256", "tls_aes_256_gcm_sha384", "tls_chacha20_poly1305_sha256"];
}

export const rootCertificates = Object.freeze([]);
export const DEFAULT_ECDH_CURVE = "auto";
export const DEFAULT_MIN_VERSION = "TLSv1.2";
export const DEFAULT_MAX_VERSION = "TLSv1.3";
export const DEFAULT_CIPHERS = getCiphers().join(":");

export default {
  TLSSocket, Server: TlsServer, connect, createServer, createSecureContext, checkServerIdentity, getCiphers,
  rootCertificates, DEFAULT_ECDH_CURVE, DEFAULT_MIN_VERSION, DEFAULT_MAX_VERSION, DEFAULT_CIPHERS,
};
