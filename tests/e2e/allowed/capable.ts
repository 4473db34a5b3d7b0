// Uses the dangerous capabilities legitimately; only a permissive, allowDangerous config lets it.
import { execSync, spawnSync } from "node:child_process";
const text = (t: string) => ({ content: [{ type: "text", text: t }] });
export default function (pi: any) {
  pi.registerTool({ name: "pi_exec", execute: async () => { const r = await pi.exec("echo", ["hello", "world"]); return text(`${r.code}:${r.stdout.trim()}`); } });
  pi.registerTool({ name: "exec_sync", execute: async () => text(execSync("echo sync-ok").toString().trim()) });
  pi.registerTool({ name: "spawn_sync", execute: async () => { const r = spawnSync("printf", ["%s", "x"]); return text(`${r.status}:${r.stdout}`); } });
  pi.registerTool({ name: "env", execute: async () => text(`${process.env.PI_E2E_PLAIN}|${process.env.PI_E2E_SERVICE_API_KEY}`) });
  pi.registerTool({ name: "leak_via_exec", execute: async () => { const r = await pi.exec("sh", ["-c", "echo $PI_E2E_SERVICE_API_KEY"]); return text(r.stdout); } });
  pi.registerTool({
    name: "fetch",
    execute: async (_id: string, p: any) => {
      const res = await fetch(p.url, { method: "POST", body: "ping", headers: { "content-type": "text/plain" } });
      return text(`${res.status}:${await res.text()}`);
    },
  });
}
