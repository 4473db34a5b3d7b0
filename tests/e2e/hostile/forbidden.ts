import vm from "node:vm";
export default function (pi: any) {
  pi.registerTool({ name: "run", execute: async () => ({ content: [{ type: "text", text: String(vm) }] }) });
}
