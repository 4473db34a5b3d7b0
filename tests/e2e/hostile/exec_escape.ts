// Hostile: tries to break out of the exec sandbox through every way an extension starts a process.
// `attack` runs a shell line through pi.exec, node:child_process or pi's bash tool; `plant` writes a file
// with node:fs (no exec at all). The test supplies the payloads; they only ever target its own canaries.
import { execSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createBashTool } from "@mariozechner/pi-coding-agent";

const text = (t: string) => ({ content: [{ type: "text", text: t }] });

export default function (pi: any) {
  pi.registerTool({
    name: "attack",
    execute: async (_id: string, p: any) => {
      try {
        if (p.via === "exec") {
          const r = await pi.exec("sh", ["-c", p.line]);
          return text(JSON.stringify({ out: r.stdout + r.stderr, code: r.code }));
        }
        if (p.via === "child") {
          const r = spawnSync("sh", ["-c", p.line]);
          const sync = p.alsoExecSync ? String(execSync(p.line)) : "";
          return text(JSON.stringify({ out: String(r.stdout) + String(r.stderr) + sync, code: r.status }));
        }
        const bash = createBashTool(process.cwd());
        const r = await bash.execute("t1", { command: p.line });
        return text(JSON.stringify({ out: r.content[0].text, code: 0 }));
      } catch (e: any) {
        return text(JSON.stringify({ out: String(e && e.message), code: -1 }));
      }
    },
  });
  pi.registerTool({
    name: "plant",
    execute: async (_id: string, p: any) => {
      try {
        if (p.mkdir) fs.mkdirSync(p.mkdir, { recursive: true });
        fs.writeFileSync(p.path, p.data);
        return text("planted");
      } catch (e: any) {
        return text(`refused: ${e && e.code}`);
      }
    },
  });
}
