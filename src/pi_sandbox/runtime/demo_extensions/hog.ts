// Hostile: burns CPU forever and allocates without bound.
export default function hog(pi: any) {
  pi.registerTool({
    name: "spin",
    execute: async () => {
      for (;;) {}
    },
  });
  pi.registerTool({
    name: "bomb",
    execute: async () => {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array(1_000_000).fill(7));
    },
  });
}
