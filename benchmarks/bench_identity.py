"""Added load time of the identity and pin checks, on pi's official example extensions.

    python benchmarks/bench_identity.py --examples DIR [--json]

``DIR`` is the ``examples/extensions`` folder of ``@mariozechner/pi-coding-agent`` (see
``compat_examples.py`` for fetching it). Every example is installed with ``ext install`` (as shipped,
``--force``: the measurement is of the checks, not the verdicts) into an isolated temp environment, then
each installed extension is "loaded" the way ``ExtensionHost.load`` checks it, without starting workers:

* **identity**: the lockfile read, the ids the user's folders hold, and the claim check (once per load call);
* **pin**: the dependency plan plus :func:`verify_integrity` (every own and dependency file hashed) per
  extension — the added cost at every load;
* **bundle** (for scale): the esbuild bundle of the same extension from the warm bundle cache.

Medians of 5 rounds; one run, no comparison across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pi_sandbox.audit import AuditStore
from pi_sandbox.config import resolve_config
from pi_sandbox.runtime.bundler import Bundler
from pi_sandbox.runtime.discovery import scan_folder, with_origin
from pi_sandbox.runtime.identity import claim_problem, held_ids, identity_of, user_holders
from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.prepare import verify_integrity
from pi_sandbox.runtime.toolchain import default_toolchain
from pi_sandbox.scanner.install import install
from pi_sandbox.scanner.integrity import PinIndex
from pi_sandbox.scanner.lockfile import load_lockfile
from pi_sandbox.scanner.packages import plan_dependencies

ROUNDS = 5


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def measure(examples: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pi-bench-identity-") as tmp:
        base = Path(tmp)
        env = {"HOME": str(base / "home"), "PI_CODING_AGENT_DIR": str(base / "agent"),
               "PI_SECURITY_DIR": str(base / "agent" / "security"), "PATH": os.environ.get("PATH", "")}
        for folder in ("home", "workspace", "agent"):
            (base / folder).mkdir()
        config = resolve_config(cwd=base / "workspace", env=env)
        with AuditStore.open(config.state_dir) as store:
            for source in scan_folder(examples):
                target = source.root if source.root != examples.resolve() else source.entry
                install(target, config, store, force=True, reason="benchmark")
        installed = [with_origin(s, "sandboxed") for s in scan_folder(config.agent_dir / "sandboxed-extensions")]
        toolchain = default_toolchain()
        table = load_module_table(toolchain)
        bundler = Bundler(toolchain, config.state_dir / "bundle-cache", table)
        identity_ms: list[float] = []
        pin_ms: dict[str, list[float]] = {s.extension_id: [] for s in installed}
        bundle_ms: dict[str, list[float]] = {s.extension_id: [] for s in installed}
        for _round in range(ROUNDS):
            start = time.perf_counter()
            pins = PinIndex.of(load_lockfile(config.state_dir))
            held = held_ids(pins, user_holders(config.agent_dir, config.project_dir, pins))
            for source in installed:
                identity = identity_of(source.extension_id, source.origin, source.root, source.entry,
                                       config.project_dir, pins)
                assert claim_problem(identity, held) is None
            identity_ms.append(_ms(start))
            for source in installed:
                start = time.perf_counter()
                plan = plan_dependencies(source.root)
                verify_integrity(source, plan, config.state_dir, pins)
                pin_ms[source.extension_id].append(_ms(start))
                start = time.perf_counter()
                try:
                    bundler.bundle(source.entry, source.root, plan=plan)
                except Exception:  # noqa: BLE001 - an example that does not bundle is left out of the scale
                    bundle_ms.pop(source.extension_id, None)
                    continue
                if source.extension_id in bundle_ms:
                    bundle_ms[source.extension_id].append(_ms(start))
        pins_per_ext = [statistics.median(v) for v in pin_ms.values()]
        bundles = [statistics.median(v) for v in bundle_ms.values() if v]
        return {
            "extensions": len(installed),
            "identity_check_ms_per_load_call": round(statistics.median(identity_ms), 2),
            "pin_check_ms_median": round(statistics.median(pins_per_ext), 2),
            "pin_check_ms_max": round(max(pins_per_ext), 2),
            "pin_check_ms_total": round(sum(pins_per_ext), 1),
            "pin_check_slowest": max(pin_ms, key=lambda k: statistics.median(pin_ms[k])),
            "warm_bundle_ms_median": round(statistics.median(bundles), 2) if bundles else None,
            "warm_bundle_ms_total": round(sum(bundles), 1),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.examples.resolve())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:36} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
