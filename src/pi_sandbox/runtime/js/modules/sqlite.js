// node:sqlite — loads for every extension. A database is a file the extension would write outside the fs
// hostcall's confinement: opening one throws ERR_NOT_SUPPORTED at use (keep data in the extension's data dir
// with `fs` instead).
import { notSupported } from "pi:effects";

export class DatabaseSync {
  constructor(path) { throw notSupported(`node:sqlite (${String(path)})`, "databases would bypass the fs hostcall; use fs in the extension's data dir"); }
}
export class StatementSync { constructor() { throw notSupported("node:sqlite", "no databases"); } }
export const constants = { SQLITE_CHANGESET_OMIT: 0, SQLITE_CHANGESET_REPLACE: 1, SQLITE_CHANGESET_ABORT: 2 };
export default { DatabaseSync, StatementSync, constants };
