// node:inspector/promises — the promise-based Session of node:inspector (see inspector.js).
import { Session as CallbackSession, open, close, url, waitForDebugger, console } from "inspector";

export class Session extends CallbackSession {
  post(method, params) {
    return new Promise((resolve, reject) => super.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  }
}
export { open, close, url, waitForDebugger, console };
export default { Session, open, close, url, waitForDebugger, console };
