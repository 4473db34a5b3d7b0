"""The held-out hostile set (``heldout.py``): measured as written, never tuned against.

First measurement, before any change prompted by it: 48/51 (94.1 %), of which one sample turned out to be
mislabelled (it wrote to a fresh object's prototype, which is not pollution) and was corrected; on the 50
correctly labelled samples 48/50 = 96.0 %. The two misses were generic gaps (an element of an array taken
out of an enumerated ``process``; an alias of ``process.getBuiltinModule``) fixed by technique; the set is
then no longer held out, so a fresh one is the next measure. This test keeps the rate from regressing.
"""

from __future__ import annotations

import pytest

from tests.scanner.heldout import HELD_OUT, HELD_OUT_2
from tests.scanner.test_techniques import detected

#: Floor for the held-out rate (issue 13's target for unseen samples is 98 %).
HELD_OUT_FLOOR = 0.98


@pytest.mark.parametrize("name", ["held-out", "held-out 2"])
def test_heldout_rate(capsys: pytest.CaptureFixture[str], name: str) -> None:
    sets = {"held-out": HELD_OUT, "held-out 2": HELD_OUT_2}
    lines, hits, total = [], 0, 0
    for technique, samples in sets[name].items():
        found = sum(detected(source, expected) for source, expected in samples)
        hits, total = hits + found, total + len(samples)
        lines.append(f"  {technique:24} {found}/{len(samples)}")
    with capsys.disabled():
        print(f"\nscanner {name} set: {hits}/{total} = {hits / total:.1%}\n" + "\n".join(lines))
    assert len(sets[name]) == 6 and all(len(s) >= 5 for s in sets[name].values())
    assert hits / total >= HELD_OUT_FLOOR
