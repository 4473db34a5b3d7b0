"""Policy evaluation latency with 100 per-extension overrides (target p99 ≤ 20 µs)."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import percentile, print_table  # noqa: E402

from pi_sandbox.capabilities import ALL_CAPABILITIES  # noqa: E402
from pi_sandbox.config import ExtensionOverride, SecurityConfig  # noqa: E402
from pi_sandbox.policy import CompiledPolicy  # noqa: E402


def main() -> None:
    rng = random.Random(7)
    caps = [c.value for c in ALL_CAPABILITIES]
    overrides = {
        f"ext-{i}": ExtensionOverride(allow=frozenset(rng.sample(caps, 2)), deny=frozenset(rng.sample(caps, 1)),
                                      mode=rng.choice([None, "strict", "prompt", "permissive"]))
        for i in range(100)
    }
    tmp = Path(tempfile.mkdtemp())
    config = SecurityConfig(agent_dir=tmp, state_dir=tmp / "s", project_dir=tmp, profile="balanced",
                            per_extension=overrides)
    policy = CompiledPolicy.from_config(config)
    ext_ids = [f"ext-{i}" for i in range(120)]  # some without overrides
    queries = [(rng.choice(ALL_CAPABILITIES), rng.choice(ext_ids)) for _ in range(2000)]
    samples: list[float] = []
    for _round in range(50):
        for cap, ext in queries:
            t0 = time.perf_counter_ns()
            policy.evaluate(cap, ext)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    print_table("policy evaluation (100 per-extension overrides)", [
        ("evaluations", f"{len(samples)}", ""),
        ("p50 (µs)", f"{percentile(samples, 50):.2f}", ""),
        ("p99 (µs)", f"{percentile(samples, 99):.2f}", "≤ 20"),
    ])


if __name__ == "__main__":
    main()
