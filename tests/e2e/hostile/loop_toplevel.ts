while (true) {}
export default function (pi: any) {
  pi.registerTool({ name: "never", execute: async () => ({ content: [] }) });
}
