type Mod = Record<string, () => void>;
export function runAll(mods: Mod[], hook: string) {
  for (const module of mods) {
    module[hook]?.();
  }
}
