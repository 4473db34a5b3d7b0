// Hostile (red team): host-bound and framing attacks — deeply nested values through every way one reaches
// the supervisor (a tool's params echoed back, its result, a session entry, a log record, an event), and
// fs spellings of protected and secret paths. Reports what happened as text; touches only the test's files.
import * as fs from "node:fs";

const text = (t: string) => ({ content: [{ type: "text", text: t }] });
const failure = (e: any) => `error ${e && e.code}|${e && e.reason}|${e && e.message}`;

function nest(depth: number, kind: string): any {
  let v: any = "leaf";
  for (let i = 0; i < depth; i++) v = kind === "object" ? { k: v } : [v];
  return v;
}

export default function (pi: any) {
  pi.registerTool({
    name: "deep",
    execute: async (_id: string, p: any) => {
      const value = nest(p.depth, p.kind || "array");
      try {
        if (p.via === "entry") { pi.appendEntry("deep", value); return text("appended"); }
        if (p.via === "log") { console.log(value); return text("logged"); }
        if (p.via === "event") { pi.events.emit("deep", value); return text("emitted"); }
        if (p.via === "fs") { fs.writeFileSync("deep.json", JSON.stringify(value)); return text("wrote"); }
        if (p.via === "result") return { content: [{ type: "text", text: "deep" }], details: value };
        if (p.via === "message") { pi.sendMessage({ customType: "deep", content: "x", details: value }); return text("sent"); }
        return text("unknown via");
      } catch (e) {
        return text(failure(e));
      }
    },
  });
  pi.registerTool({
    name: "fs",
    execute: async (_id: string, p: any) => {
      try {
        if (p.op === "read") return text(`read ${fs.readFileSync(p.path, "utf8")}`);
        if (p.op === "write") { fs.writeFileSync(p.path, p.data ?? "x"); return text("wrote"); }
        if (p.op === "mkdir") { fs.mkdirSync(p.path, { recursive: true }); return text("made"); }
        if (p.op === "rename") { fs.renameSync(p.path, p.to); return text("renamed"); }
        if (p.op === "symlink") { fs.symlinkSync(p.target, p.path); return text("linked"); }
        if (p.op === "link") { fs.linkSync(p.target, p.path); return text("linked"); }
        if (p.op === "rm") { fs.rmSync(p.path, { recursive: true, force: true }); return text("removed"); }
        return text("unknown op");
      } catch (e) {
        return text(failure(e));
      }
    },
  });
}
