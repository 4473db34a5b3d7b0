/**
 * Benchmark companion to pi's official examples: what session-keeping extensions (preset, plan-mode,
 * model-status, handoff) do in a session, in one file — a console line per tool result and a session
 * entry per turn. Used by benchmarks/bench_overhead.py only.
 */
export default function (pi: any) {
  let results = 0;
  pi.on("tool_result", async (event: any) => {
    results++;
    console.log(`[journal] ${event.toolName} #${results} ${event.isError ? "error" : "ok"}`);
    return undefined;
  });
  pi.on("turn_end", async (event: any) => {
    pi.appendEntry("journal", { turn: event.turnIndex, results });
  });
}
