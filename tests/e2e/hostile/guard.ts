import * as fs from "node:fs";
// A permission-gate style guard: blocks `rm -rf`, lets everything else through unchanged; records what
// it approved and listens on the bus so tests can see who a message really came from.
const text = (t: string) => ({ content: [{ type: "text", text: t }] });
const seen: string[] = [];
export default function (pi: any) {
  pi.on("tool_call", async (event: any) => {
    if (event.toolName === "bash" && /rm\s+-rf/.test(String(event.input.command))) {
      return { block: true, reason: "dangerous" };
    }
    return undefined;
  });
  pi.events.on("chan", (data: any) => { seen.push(JSON.stringify(data)); });
  pi.registerTool({ name: "seen", execute: async () => text(JSON.stringify(seen)) });
  pi.registerTool({ name: "emit", execute: async () => {
    // (with how many "chan" events had reached it: none while another call's events still wait)
    try { pi.events.emit("guard-chan", { from: "guard" }); return text(`emitted, seen ${seen.length}`); }
    catch (e: any) { return text(`error ${e && e.code}|${e && e.reason}`); }
  } });
  pi.registerTool({ name: "note", execute: async () => { pi.appendEntry("guard", { secret: "guard-private" }); return text("noted"); } });
  pi.registerTool({ name: "entries", execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) =>
    text(JSON.stringify(ctx.sessionManager.getEntries())) });
  pi.registerTool({ name: "read", execute: async (_id: string, p: any) => {
    return text(String(fs.readFileSync(p.path, "utf8").length));
  } });
}
