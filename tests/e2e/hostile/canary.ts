// Well-behaved neighbour: must keep answering whatever the hostile extensions do.
export default function (pi: any) {
  pi.registerTool({ name: "ping", execute: async () => ({ content: [{ type: "text", text: "pong" }] }) });
  pi.on("tool_call", async () => undefined);
}
