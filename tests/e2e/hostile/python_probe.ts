export default function (pi: any) {
  pi.registerTool({
    name: "escape",
    execute: async () => {
      const g: any = globalThis;
      const probes: Record<string, string> = {};
      probes.raw = typeof g.__pi_hc_sync + "," + typeof g.__pi_hc_start + "," + typeof g.__pi_hc_post + "," + typeof g.__pi_done;
      probes.builtins = ["python", "__import__", "require", "Deno", "Bun", "std", "os"].map((k) => typeof g[k]).join(",");
      const tryImport = async (id: string) => { try { await import(/* @vite-ignore */ id); return "loaded"; } catch { return "blocked"; } };
      probes.importSys = await tryImport("builtins"); // Python's module, not a served id
      probes.importFile = await tryImport("/etc/passwd");
      // The bridge module is internal: a computed import cannot name it (its real name is secret).
      probes.hostModule = await tryImport(["pi", "host"].join(":"));
      return { content: [{ type: "text", text: JSON.stringify(probes) }] };
    },
  });
}
