// node:constants (deprecated alias) — the os errno/signal numbers and fs access/open flags, as on Linux.
import { constants as osConstants } from "os";
import { constants as fsConstants } from "fs";

const all = { ...(osConstants && osConstants.errno), ...(osConstants && osConstants.signals), ...fsConstants };
export default all;
