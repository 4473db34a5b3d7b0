enum Mode { Fast = 'fast', Safe = 'safe' }
type Cfg = { mode: Mode } & Partial<Record<'eval' | 'exec', boolean>>;
export const cfg = { mode: Mode.Safe } satisfies Cfg;
export function pick<T, K extends keyof T>(o: T, k: K): T[K] { return o[k]; }
abstract class Base { abstract run(): void; }
export class Impl extends Base { override run(): void {} }
