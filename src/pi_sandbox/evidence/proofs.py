"""Proving the ledger entries a bundle carries against signed checkpoints, and checking those proofs.

Entries are grouped into *runs* of consecutive seqs. Inside a run each entry is bound to the next by
the chain (the next entry's ``prev_hash`` is this entry's recomputed hash), so proving a run's last
entry proves the whole run. The last entry is proven either by being the head a checkpoint signed
(``"type": "head"``) or by a Merkle inclusion proof (RFC 9162 audit path, ``"type": "merkle"``) against
the Merkle root over entries ``1..seq`` that the covering checkpoint signed. An unfiltered bundle is
one run ending at the covering checkpoint, so it needs no Merkle proof at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.chain import checkpoint_payload
from pi_sandbox.audit.merkle import MerkleTree, verify_inclusion
from pi_sandbox.audit.signing import signature_valid

CHECKPOINT_FIELDS = ("seq", "head_hash", "ts_ms", "reason", "public_key", "signature", "merkle_root")


def covering_checkpoint(checkpoints: Sequence[Mapping[str, Any]], until_seq: int | None) -> dict[str, Any] | None:
    """The checkpoint a bundle proves against: the newest with a Merkle root, or with ``until_seq`` the
    earliest one at or after it (so the bundle stays the same while the ledger grows)."""
    rooted = [dict(cp) for cp in checkpoints if cp["merkle_root"] is not None]
    if until_seq is not None:
        later = [cp for cp in rooted if cp["seq"] >= until_seq]
        return min(later, key=lambda cp: cp["seq"]) if later else None
    return max(rooted, key=lambda cp: cp["seq"]) if rooted else None


def runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive seqs as ``(first, last)``."""
    out: list[tuple[int, int]] = []
    for seq in seqs:
        if out and seq == out[-1][1] + 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def prove_selection(store: AuditStore, selected: Sequence[int], checkpoints: Sequence[Mapping[str, Any]],
                    cover: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
    """The ``checkpoints`` and ``proofs`` members of a bundle's ``risk_ledger`` for the ``selected`` seqs."""
    seqs = set(selected)
    included = [cp for cp in checkpoints if cp["seq"] <= cover["seq"] and (complete or cp["seq"] in seqs)]
    if not any(cp["signature"] == cover["signature"] for cp in included):
        included.append(dict(cover))
    proofs: list[dict[str, Any]] = []
    tree: MerkleTree | None = None
    for _first, last in runs(selected):
        if last == cover["seq"]:
            proofs.append({"type": "head", "seq": last, "checkpoint_seq": cover["seq"]})
            continue
        if tree is None:
            tree = MerkleTree(store.entry_hashes(cover["seq"]))
        proofs.append({"type": "merkle", "seq": last, "checkpoint_seq": cover["seq"],
                       "path": tree.proof(last - 1) if last - 1 < tree.size else []})
    return {"checkpoints": [{k: cp[k] for k in CHECKPOINT_FIELDS} for cp in included], "proofs": proofs}


def checkpoint_signed(cp: Mapping[str, Any], trusted_key: str) -> bool:
    """Whether ``cp`` was signed by ``trusted_key`` over its fields."""
    try:
        payload = checkpoint_payload(cp["seq"], cp["head_hash"], cp["ts_ms"], cp.get("merkle_root"))
    except (KeyError, TypeError, ValueError):
        return False
    return cp.get("public_key") == trusted_key and signature_valid(trusted_key, str(cp.get("signature")), payload)


def check_proof(proof: Mapping[str, Any], entry_hash: str, checkpoints: Mapping[int, Mapping[str, Any]]) -> str | None:
    """Why ``proof`` does not tie ``entry_hash`` to a checkpoint in ``checkpoints`` (None when it does)."""
    seq, cp = proof.get("seq"), checkpoints.get(proof.get("checkpoint_seq"))  # type: ignore[arg-type]
    if cp is None:
        return f"proof for entry {seq} names checkpoint {proof.get('checkpoint_seq')}, which the bundle lacks"
    if proof.get("type") == "head":
        if seq != cp["seq"] or cp["head_hash"] != entry_hash:
            return f"entry {seq} is not the head signed by the checkpoint at seq {cp['seq']}"
        return None
    if proof.get("type") == "merkle":
        path = proof.get("path")
        if not isinstance(seq, int) or not isinstance(path, list) or not isinstance(cp.get("merkle_root"), str):
            return f"Merkle proof for entry {seq} is malformed"
        if not verify_inclusion(entry_hash, seq - 1, cp["seq"], path, cp["merkle_root"]):
            return f"Merkle proof for entry {seq} does not lead to the root signed at seq {cp['seq']}"
        return None
    return f"proof for entry {seq} has unknown type {proof.get('type')!r}"
