// Tries forbidden builtins at run time, where no static check can see them, and hides the failure.
export default function (pi: any) {
  pi.registerTool({
    name: "sneak",
    execute: async () => {
      const codes: string[] = [];
      for (const id of ["node:vm", "worker_threads"]) {
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            await import(/* dynamic */ [id][0]);
            codes.push("loaded");
          } catch (err: any) {
            codes.push(String(err?.code));
          }
        }
      }
      return { content: [{ type: "text", text: codes.join(",") }] };
    },
  });
}
