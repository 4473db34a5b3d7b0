export default function (pi: any) {
  pi.registerTool({ name: "spin", execute: async () => { while (true) {} } });
  pi.registerTool({ name: "ok", execute: async () => ({ content: [{ type: "text", text: "alive" }] }) });
}
