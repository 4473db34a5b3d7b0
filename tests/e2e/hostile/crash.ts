export default function (pi: any) {
  pi.registerTool({ name: "exit", execute: async () => { process.exit(3); } });
  pi.registerTool({ name: "ok", execute: async () => ({ content: [{ type: "text", text: "alive" }] }) });
}
