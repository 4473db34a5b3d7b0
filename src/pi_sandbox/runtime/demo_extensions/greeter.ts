// Well-behaved: a TypeBox-validated tool that reads the workspace, and a command that writes a note.
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
import * as path from "node:path";

export default function greeter(pi: any) {
  pi.registerTool({
    name: "greet",
    label: "Greet",
    description: "Greets someone and counts the files in the workspace",
    parameters: Type.Object({ name: Type.String({ minLength: 1 }) }),
    async execute(_id: string, params: { name: string }, _signal: unknown, _onUpdate: unknown, ctx: any) {
      const files = fs.readdirSync(ctx.cwd);
      return {
        content: [{ type: "text", text: `Hello, ${params.name}! The workspace has ${files.length} file(s).` }],
        details: { files: files.length },
      };
    },
  });
  pi.registerCommand("note", {
    description: "Write a note into the workspace",
    handler: async (args: string, ctx: any) => {
      fs.writeFileSync(path.join(ctx.cwd, "NOTE.md"), `${args}\n`);
    },
  });
}
