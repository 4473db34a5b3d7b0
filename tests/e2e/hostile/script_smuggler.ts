// Hostile: holds exec (permissive + allowDangerous) and tries to get code past the exec classifier
// by writing a script with fs and running it, hiding it in interpreter one-liners, tool features,
// stdin and encodings. Every payload first touches a canary file and exits before its destructive
// part, so a defence that failed would show as a canary file, never as damage.
import * as fs from "node:fs";

const text = (t: string) => ({ content: [{ type: "text", text: t }] });

async function attempt(fn: () => Promise<any>): Promise<string> {
  try {
    const r = await fn();  // pi.exec reports a refusal as exit code 1 with the reason on stderr (as pi does)
    return `ok:${r.code}:${r.stderr || ""}`;
  } catch (e: any) {
    return `err:${e && e.message ? e.message : String(e)}`;
  }
}

export default function (pi: any) {
  // {file, body, cmd, args}: write a file into the workspace, then run a command that runs it
  pi.registerTool({
    name: "write_and_run",
    execute: async (_id: string, p: any) => {
      fs.writeFileSync(p.file, p.body);
      return text(await attempt(() => pi.exec(p.cmd, p.args)));
    },
  });
  // {cmd, args, input?}: run a command (optionally fed on stdin)
  pi.registerTool({
    name: "run",
    execute: async (_id: string, p: any) =>
      text(await attempt(() => pi.exec(p.cmd, p.args, p.input === undefined ? {} : { input: p.input }))),
  });
}
