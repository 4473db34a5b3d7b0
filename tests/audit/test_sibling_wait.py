"""Group commit's sibling wait: it may hold a commit for threads appending alongside, never for idle ones."""

from __future__ import annotations

import threading
from pathlib import Path

from pi_sandbox.audit import AuditStore, verify_ledger

from .conftest import draft

# So long that a single wait for a sibling that never comes would blow the join timeouts below.
_LONG_DELAY_S = 30.0


def test_threads_taking_turns_never_wait_for_each_other(state_dir: Path) -> None:
    """One worker's calls served alternately on two threads (sync call, then a fetch on an executor)."""
    store = AuditStore.open(state_dir, commit_delay_s=_LONG_DELAY_S)
    turn = [threading.Event(), threading.Event()]
    errors: list[BaseException] = []

    def take_turns(me: int, rounds: int) -> None:
        try:
            for i in range(rounds):
                assert turn[me].wait(10)
                turn[me].clear()
                store.append(draft(me * 100 + i))
                turn[1 - me].set()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
            turn[1 - me].set()

    threads = [threading.Thread(target=take_turns, args=(t, 10), daemon=True) for t in (0, 1)]
    for t in threads:
        t.start()
    turn[0].set()
    for t in threads:
        t.join(timeout=20)
    try:
        assert not errors and not any(t.is_alive() for t in threads), "an append waited for an idle thread"
        assert store.head()[0] == 20
        assert store.group_commits == 20  # strictly sequential: nothing to batch
    finally:
        store.close()


def test_overlapping_appenders_are_still_batched(state_dir: Path) -> None:
    """Threads appending in a tight loop at once share commits (the wait is what makes that happen)."""
    store = AuditStore.open(state_dir)
    start = threading.Barrier(4)

    def loop(me: int) -> None:
        start.wait()
        for i in range(50):
            store.append(draft(me * 100 + i))

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert store.head()[0] == 200
        assert store.group_commits < 200
    finally:
        store.close()


def test_mixed_classes_and_batches_from_many_threads_stay_contiguous(state_dir: Path) -> None:
    """Leaders gathering, arrivals taking a complete group over, hand-overs to the next leader, syncs in
    flight: every entry is acknowledged exactly once, with its own seqs, in one unbroken chain."""
    store = AuditStore.open(state_dir, checkpoint_interval=25)
    start = threading.Barrier(8)
    seqs: list[list[int]] = [[] for _ in range(8)]
    errors: list[BaseException] = []

    def loop(me: int) -> None:
        try:
            start.wait()
            for i in range(60):
                drafts = [draft(me * 1000 + i * 10 + j) for j in range(1 + (i + me) % 3)]
                entries = store.append_many(drafts, sync=(i + me) % 5 == 0)
                assert [e.call_id for e in entries] == [d.call_id for d in drafts]
                seqs[me] += [e.seq for e in entries]
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not errors and not any(t.is_alive() for t in threads), errors[:1]
        every = sorted(s for mine in seqs for s in mine)
        assert every == list(range(1, len(every) + 1))
        assert all(mine == sorted(mine) for mine in seqs)  # a thread's own entries keep its order
        assert store.group_commits < len(every)
    finally:
        store.close()
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.entry_count == len(every)
