// node:perf_hooks — the engine's own monotonic clock; no observers/histograms.
export const performance = globalThis.performance;
export const constants = {};
export class PerformanceObserver { observe() {} disconnect() {} }
export function monitorEventLoopDelay() {
  return { enable() {}, disable() {}, percentile: () => 0, mean: 0, max: 0, min: 0, stddev: 0 };
}
export default { performance, PerformanceObserver, monitorEventLoopDelay, constants };
