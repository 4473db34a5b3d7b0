export default function (pi: any) {
  const down = (n: number): number => down(n + 1) + 1;
  pi.registerTool({ name: "recurse", execute: async () => ({ content: [{ type: "text", text: String(down(0)) }] }) });
}
