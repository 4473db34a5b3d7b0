"""The values a front-door :class:`~pi_sandbox.session.Session` hands out: frozen, typed, JSON-ready."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias


class PermissionAnswer(StrEnum):
    """How a permission prompt is answered (the same four answers as pi's dialog and ``permission/request``)."""

    #: allow this one call
    ONCE = "once"
    #: allow until the session closes
    SESSION = "session"
    #: allow now and later (stored; ``pi-sandbox policy revoke`` forgets it)
    ALWAYS = "always"
    #: refuse (the extension sees an error; the ledger records the refusal with its remediation)
    DENY = "deny"
    #: nobody could be asked this time (no UI): a deny recorded as headless, and not remembered
    UNASKED = "unasked"


@dataclass(frozen=True)
class PermissionPrompt:
    """What the policy asks a person: may ``extension_id`` use ``capability`` (on ``target``)?"""

    extension_id: str
    capability: str
    method: str
    explanation: str
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"extension_id": self.extension_id, "capability": self.capability, "method": self.method,
                "target": self.target, "explanation": self.explanation}


#: ``on_prompt``: called on a pipeline thread while the extension waits. Return a :class:`PermissionAnswer`
#: (or its string; ``True`` = once, ``False`` = deny); ``None`` is "no answer" and an exception a broken UI:
#: both deny. Every answer is on the ledger (``prompt_user_allow``, ``prompt_no_answer_deny``...).
PromptCallback: TypeAlias = Callable[[PermissionPrompt], "PermissionAnswer | str | bool | None"]


@dataclass(frozen=True)
class Dialog:
    """An extension's ``ctx.ui.confirm/select/input/editor``, put to the embedding program (text redacted)."""

    extension_id: str
    #: ``confirm`` | ``select`` | ``input`` | ``editor``
    op: str
    title: str
    message: str
    options: tuple[str, ...] = ()


#: ``on_dialog``: called on a pipeline thread while the extension waits. Return ``True``/``False`` for
#: ``confirm``, one of ``options`` for ``select``, a string for ``input``/``editor``; ``None``, a value of the
#: wrong shape or an exception give the extension the headless answer (``false`` / ``undefined``).
DialogCallback: TypeAlias = Callable[[Dialog], Any]


@dataclass(frozen=True)
class ToolSpec:
    """A tool a loaded extension registered, as a host offers it to its model."""

    extension_id: str
    name: str
    label: str
    description: str
    #: JSON Schema of the arguments (from the tool's TypeBox schema; an open object when it has none)
    parameters: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"extension_id": self.extension_id, "name": self.name, "label": self.label,
                "description": self.description, "parameters": dict(self.parameters)}


@dataclass(frozen=True)
class Denial:
    """A hostcall the pipeline refused while a tool ran: what, why, and what an operator can do."""

    seq: int
    capability: str | None
    method: str | None
    reason: str
    remediation: str

    def describe(self) -> str:
        """One line for a person or a model: ``denied fs.write (policy_deny): <remediation>``."""
        what = ".".join(p for p in (self.capability, self.method) if p) or "a call"
        return f"pi-sandbox denied {what} ({self.reason})" + (f": {self.remediation}" if self.remediation else "")


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned, plus the hostcalls the pipeline denied while it ran."""

    extension_id: str
    tool: str
    content: tuple[Mapping[str, Any], ...]
    details: Any
    is_error: bool
    aborted: bool = False
    denials: tuple[Denial, ...] = field(default=())

    @property
    def text(self) -> str:
        """The text parts of ``content``, joined by newlines."""
        return "\n".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"extension_id": self.extension_id, "tool": self.tool, "content": [dict(c) for c in self.content],
                "details": self.details, "is_error": self.is_error, "aborted": self.aborted,
                "denials": [d.__dict__ for d in self.denials]}


@dataclass(frozen=True)
class ExtensionInfo:
    """One extension the session knows: loaded, or failed with the reason."""

    id: str
    entry: str
    origin: str
    status: str
    error: str | None
    error_code: str | None
    tools: tuple[str, ...]
    commands: tuple[str, ...]
    events: tuple[str, ...]
    trust: str | None

    @property
    def loaded(self) -> bool:
        """Whether it runs (its tools can be called)."""
        return self.status == "loaded"

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> ExtensionInfo:
        """From ``LoadedExtension.summary()``."""
        trust = summary["trust"]
        return cls(id=summary["id"], entry=summary["entry"], origin=summary["origin"], status=summary["status"],
                   error=summary["error"], error_code=summary["error_code"], tools=tuple(summary["tools"]),
                   commands=tuple(summary["commands"]), events=tuple(summary["events"]),
                   trust=None if trust is None else str(getattr(trust, "value", trust)))
