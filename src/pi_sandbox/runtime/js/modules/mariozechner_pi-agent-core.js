// @mariozechner/pi-agent-core — extensions import it mostly for types (erased). The agent loop itself belongs
// to the host; constructing an Agent inside a sandboxed extension fails with a clear error.
function notSupported(what) {
  return Object.assign(new Error(`pi-sandbox: ${what} is not available inside an extension (the agent loop runs in the host)`), { code: "ERR_NOT_SUPPORTED" });
}
export class Agent {
  constructor() { throw notSupported("new Agent()"); }
}
export function agentLoop() { throw notSupported("agentLoop()"); }
export function agentLoopContinue() { throw notSupported("agentLoopContinue()"); }
