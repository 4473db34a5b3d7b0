"""The Merkle tree over entry hashes and the roots signed into checkpoints."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore, verify_ledger
from pi_sandbox.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    extend,
    frontier_root,
    leaf_hash,
    node_hash,
    verify_inclusion,
)
from tests.audit.conftest import fill


def _reference_root(hashes: list[str]) -> bytes:
    """RFC 9162 §2.1.1 Merkle Tree Hash, written as the RFC defines it (recursive split)."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return leaf_hash(hashes[0])
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


def _hashes(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 64, 100, 1000, 1025])
def test_tree_frontier_and_reference_agree(n: int) -> None:
    hashes = _hashes(n)
    expected = _reference_root(hashes).hex()
    assert MerkleTree(hashes).root() == expected
    assert frontier_root(extend([], hashes)) == expected
    for cut in {0, n // 3, n // 2, n}:  # incremental: the frontier of a prefix, continued
        assert frontier_root(extend(extend([], hashes[:cut]), hashes[cut:])) == expected
    assert (n == 0) == (expected == EMPTY_ROOT)


@pytest.mark.parametrize("n", [1, 2, 7, 33, 100])
def test_every_leaf_proves_and_nothing_else_does(n: int) -> None:
    hashes = _hashes(n)
    tree = MerkleTree(hashes)
    root = tree.root()
    for i in range(n):
        path = tree.proof(i)
        assert verify_inclusion(hashes[i], i, n, path, root)
        assert not verify_inclusion(hashes[(i + 1) % n], i, n, path, root) or n == 1
        if path:
            forged = [path[0][:-1] + ("0" if path[0][-1] != "0" else "1"), *path[1:]]
            assert not verify_inclusion(hashes[i], i, n, forged, root)


def test_checkpoints_sign_the_root_over_every_entry_so_far(store: AuditStore) -> None:
    fill(store, 25)  # interval 10: checkpoints at 10 and 20
    store.checkpoint("test")
    rows = store.query_checkpoints()
    assert [cp["seq"] for cp in rows] == [10, 20, 25]
    hashes = store.entry_hashes(25)
    for cp in rows:
        assert cp["merkle_root"] == MerkleTree(hashes[:cp["seq"]]).root()


def test_a_changed_root_breaks_the_checkpoint_signature(store: AuditStore, state_dir: Path) -> None:
    fill(store, 12)
    store.close()
    conn = sqlite3.connect(state_dir / "security.db")
    conn.execute("UPDATE ledger_checkpoints SET merkle_root = ? WHERE seq = 10", ("00" * 32,))
    conn.commit()
    conn.close()
    report = verify_ledger(state_dir)
    assert not report.chain_valid and [e.kind for e in report.verification_errors] == ["bad_signature"]


def test_a_ledger_without_roots_gets_them_from_the_first_new_checkpoint(store: AuditStore, state_dir: Path) -> None:
    """A ledger written before Merkle roots: the next checkpoint computes the root over all entries."""
    fill(store, 15)
    store.close()
    conn = sqlite3.connect(state_dir / "security.db")
    conn.execute("UPDATE ledger_checkpoints SET merkle_root = NULL, merkle_frontier = NULL")
    conn.commit()
    conn.close()
    with AuditStore.open(state_dir, checkpoint_interval=10) as reopened:
        fill(reopened, 10, start=15)
        latest = reopened.query_checkpoints()[-1]
        assert latest["seq"] == 20 and latest["merkle_root"] == MerkleTree(reopened.entry_hashes(20)).root()
