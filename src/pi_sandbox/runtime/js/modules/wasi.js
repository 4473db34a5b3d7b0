// node:wasi — loads for every extension. A WASI instance gets preopened host directories and raw fds, bypassing
// the fs hostcall: constructing one throws ERR_NOT_SUPPORTED at use.
import { notSupported } from "pi:effects";

export class WASI { constructor() { throw notSupported("node:wasi", "WASI preopens would bypass the fs hostcall"); } }
export default { WASI };
