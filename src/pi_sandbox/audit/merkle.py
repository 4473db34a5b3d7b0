"""A Merkle tree over the ledger's entry hashes (RFC 9162 §2.1), sealed into signed checkpoints.

The hash chain proves a *contiguous* run of entries; it cannot prove one entry without every entry
after it up to a checkpoint. A checkpoint therefore also signs the Merkle root over entries
``1..seq`` (leaf ``i`` = the entry hash of seq ``i+1``), so an evidence bundle that carries only the
entries an incident needs can prove each of them with ``log2(seq)`` hashes (an inclusion proof),
without the content of the others.

The root is kept incrementally: a checkpoint row stores the *frontier* (the roots of the perfect
subtrees that make up the tree, largest first), so the next checkpoint folds in only the entries
after it. Hashes: ``leaf = SHA-256(0x00 || entry_hash bytes)``, ``node = SHA-256(0x01 || left || right)``,
the empty tree's root is ``SHA-256("")``, all written as lower-case hex.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Final

EMPTY_ROOT: Final = hashlib.sha256(b"").hexdigest()

#: (size, root hex) of each perfect subtree, largest (leftmost) first.
Frontier = list[tuple[int, str]]


def leaf_hash(entry_hash: str) -> bytes:
    """The tree's leaf for one entry (``entry_hash`` is 64 hex digits)."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node over two children."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def extend(frontier: Frontier, entry_hashes: Iterable[str]) -> Frontier:
    """``frontier`` with ``entry_hashes`` appended as leaves (a new list)."""
    stack = [(size, bytes.fromhex(root)) for size, root in frontier]
    sha256 = hashlib.sha256
    for digest in entry_hashes:
        size, node = 1, sha256(b"\x00" + bytes.fromhex(digest)).digest()
        while stack and stack[-1][0] == size:
            left = stack.pop()[1]
            node = sha256(b"\x01" + left + node).digest()
            size *= 2
        stack.append((size, node))
    return [(size, node.hex()) for size, node in stack]


def frontier_root(frontier: Frontier) -> str:
    """The Merkle root of the tree a frontier describes."""
    if not frontier:
        return EMPTY_ROOT
    acc = bytes.fromhex(frontier[-1][1])
    for _size, root in reversed(frontier[:-1]):
        acc = node_hash(bytes.fromhex(root), acc)
    return acc.hex()


def frontier_to_json(frontier: Frontier) -> str:
    """The stored form of a frontier."""
    return json.dumps([[size, root] for size, root in frontier], separators=(",", ":"))


def frontier_from_json(text: str) -> Frontier:
    """A frontier from its stored form (``ValueError`` when malformed)."""
    data = json.loads(text)
    if not isinstance(data, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and isinstance(p[1], str) for p in data):
        raise ValueError("malformed Merkle frontier")
    return [(int(size), str(root)) for size, root in data]


class MerkleTree:
    """All levels of the tree over a list of entry hashes, for producing inclusion proofs."""

    def __init__(self, entry_hashes: Sequence[str]) -> None:
        self.size = len(entry_hashes)
        sha256 = hashlib.sha256
        level = [sha256(b"\x00" + bytes.fromhex(h)).digest() for h in entry_hashes]
        #: levels[k][i]: root of the aligned perfect subtree of 2**k leaves starting at leaf i * 2**k.
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)
        self._suffix: dict[int, bytes] = {}

    def _range_root(self, lo: int, hi: int) -> bytes:
        """Root of leaves ``lo..hi-1`` where the range is a perfect aligned subtree or a suffix of the tree."""
        width = hi - lo
        if width & (width - 1) == 0:
            return self.levels[width.bit_length() - 1][lo // width]
        if lo not in self._suffix:
            split = 1 << ((width - 1).bit_length() - 1)
            self._suffix[lo] = node_hash(self._range_root(lo, lo + split), self._range_root(lo + split, hi))
        return self._suffix[lo]

    def root(self) -> str:
        """The Merkle root (equals the checkpoint's signed root for the same entries)."""
        return EMPTY_ROOT if self.size == 0 else self._range_root(0, self.size).hex()

    def proof(self, index: int) -> list[str]:
        """The audit path of leaf ``index`` (0-based), bottom-up, as hex."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size}")
        path: list[bytes] = []
        lo, hi = 0, self.size
        while hi - lo > 1:
            split = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + split:
                path.append(self._range_root(lo + split, hi))
                hi = lo + split
            else:
                path.append(self._range_root(lo, lo + split))
                lo += split
        return [p.hex() for p in reversed(path)]


def verify_inclusion(entry_hash: str, index: int, size: int, path: Sequence[str], root: str) -> bool:
    """Whether ``path`` proves leaf ``index`` of a tree of ``size`` leaves has ``entry_hash`` under ``root``."""
    try:
        if not 0 <= index < size:
            return False
        node, fn, sn = leaf_hash(entry_hash), index, size - 1
        for sibling_hex in path:
            sibling = bytes.fromhex(sibling_hex)
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                node = node_hash(sibling, node)
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
            else:
                node = node_hash(node, sibling)
            fn >>= 1
            sn >>= 1
        return sn == 0 and node.hex() == root
    except (ValueError, TypeError):
        return False
