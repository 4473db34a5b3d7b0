"""The per-file state every rule mixin shares: the resolver, the findings and how one is recorded.

A finding carries the flow that brought its value to the sink (``atob(…) → k → globalThis[k]``) when
the value has a trail, and a raised severity when the value was hidden (decoded or built from pieces).
"""

from __future__ import annotations

from tree_sitter import Node

from pi_sandbox.scanner.bindings import ModuleLinks
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.model import EXCERPT_MAX, Finding, make_finding
from pi_sandbox.scanner.parse import Parsed
from pi_sandbox.scanner.resolve import Resolver
from pi_sandbox.scanner.values import Val

#: Characters of the sink expression shown at the end of a flow.
FLOW_SINK_CHARS = 40


class RuleBase:
    """A file's source, resolver and findings."""

    def __init__(self, source: bytes, parsed: Parsed, rel_path: str, links: ModuleLinks | None = None) -> None:
        self.source = source
        self.parsed = parsed
        self.rel_path = rel_path
        self.root = parsed.tree.root_node
        self.resolver = Resolver(source, self.root, rel_path, links)
        self.capabilities: set[str] = set()
        self._findings: dict[tuple[str, int], Finding] = {}
        self.has_fs = False
        self.relative_imports: list[str] = []
        self.enumerated_globals: list[Node] = []

    # --- hooks the analyzer provides -------------------------------------------------------

    def on_reference(self, node: Node, val: Val) -> None:
        """Rules on any mention of a value (implemented by the analyzer)."""
        raise NotImplementedError

    def follow_alias(self, name: str, val: Val) -> None:
        """Follow a local name bound to ``val`` to its uses (implemented by the analyzer)."""
        raise NotImplementedError

    def climb(self, node: Node, val: Val) -> None:
        """Follow ``val`` from ``node`` through its parents (implemented by the analyzer)."""
        raise NotImplementedError

    # --- findings --------------------------------------------------------------------------

    def add(self, rule_id: str, node: Node, detail: str = "", val: Val | None = None) -> None:
        """Record a finding of ``rule_id`` at ``node`` (once per rule and position).

        With ``val``, the finding explains the value's flow and its severity is raised when the value was
        hidden.
        """
        hidden = val is not None and (val.obfuscated or val.decoded)
        if val is not None and val.via:
            sink = " ".join(node_text(node).split())
            if len(sink) > FLOW_SINK_CHARS:
                sink = sink[: FLOW_SINK_CHARS - 1] + "…"
            flow = " → ".join((*val.via, f"`{sink}`"))
            detail = f"{detail}; flow: {flow}" if detail else f"flow: {flow}"
        self.add_at(rule_id, node.start_byte, detail, hidden=hidden)

    def add_at(self, rule_id: str, offset: int, detail: str = "", *, hidden: bool = False) -> None:
        """Record a finding at byte ``offset``."""
        key = (rule_id, offset)
        if key in self._findings:
            return
        line_start = self.source.rfind(b"\n", 0, offset) + 1
        line_end = self.source.find(b"\n", offset)
        if line_end < 0:
            line_end = len(self.source)
        line_no = self.source.count(b"\n", 0, line_start) + 1
        prefix = self.source[line_start:offset].decode("utf-8", "replace")
        column = len(prefix) + 1
        excerpt = excerpt_of(self.source[line_start:line_end].decode("utf-8", "replace"), column)
        self._findings[key] = make_finding(rule_id, self.rel_path, line_no, column, excerpt, detail, hidden=hidden)


def excerpt_of(line: str, column: int) -> str:
    """The source line around ``column``, at most :data:`EXCERPT_MAX` characters."""
    line = line.replace("\u2028", " ").replace("\u2029", " ").replace("\t", " ").rstrip()
    stripped = line.lstrip()
    lead = len(line) - len(stripped)
    if len(stripped) <= EXCERPT_MAX:
        return stripped
    start = max(0, column - 1 - lead - 40)
    piece = stripped[start : start + EXCERPT_MAX - 1]
    return ("…" if start else "") + piece + "…"
