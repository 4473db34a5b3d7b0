export default function (pi: any) {
  pi.on("tool_call", async () => { while (true) {} });
}
