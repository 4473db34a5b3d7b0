"""Prompt resolution: remembered user decisions, the ``Prompter`` interface, headless fail-closed.

A ``prompt`` policy decision is settled, in order, by a live remembered decision (session cache,
then the persisted store), then by asking the :class:`Prompter`. Without a prompter (headless) the
answer is a deny that is *not* remembered (ARCHITECTURE §3.4), so attaching a UI later still asks.

Decisions belong to an extension's identity, not just its id (``pi_sandbox.identity``): each is stored
with a ``source`` — the identity's source key (``installed``, ``project:<location hash>`` ...), a bare
kind (``project``: decisions migrated from before identities), or none (an operator's ``policy grant``
by id, and decisions from before identities whose source is unknown). :func:`source_candidates` says
which of them an identity may use: its own key, its kind, and — for the user's own sources only,
never a project's — the unscoped ones. So a cloned repository's extension named like the user's never
inherits the user's answers.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Final, Protocol

from pi_sandbox import schemas
from pi_sandbox.capabilities import Capability
from pi_sandbox.errors import StateDirError
from pi_sandbox.identity import ExtensionIdentity, SourceKind, kind_of_source_key
from pi_sandbox.vocabulary import Reason
from pi_sandbox.waiting import waiting_for_a_person

SCOPES: Final[tuple[str, ...]] = ("once", "session", "always")
PERMISSIONS_FILE: Final = "permissions.json"
LOCK_FILE: Final = "permissions.json.lock"


@dataclass(frozen=True)
class PromptRequest:
    """What the user is asked: may this extension use this capability (on ``target``, e.g. one http host)?"""

    extension_id: str
    capability: Capability
    method: str
    explanation: str
    target: str | None = None
    #: Who asks (id + source + content hash); None for a caller with no loaded extension behind it.
    identity: ExtensionIdentity | None = None

    @property
    def source(self) -> str | None:
        """The source key a new answer is stored under."""
        return self.identity.source_key if self.identity is not None else None

    @property
    def key(self) -> str:
        """What a remembered answer is stored under: ``http`` or, per target, ``http:api.example.com``."""
        return self.capability.value if self.target is None else f"{self.capability.value}:{self.target}"


@dataclass(frozen=True)
class PromptAnswer:
    """The user's answer: allow or deny, for how long, optionally until ``expires_at_ms``."""

    allow: bool
    scope: str = "once"
    expires_at_ms: int | None = None


#: What a prompter returns when nobody can be asked this time (e.g. an MCP client without elicitation):
#: a deny recorded as headless (``prompt_headless_deny``) and not remembered, exactly as without a prompter.
UNASKED: Final = PromptAnswer(allow=False, scope="once")


class Prompter(Protocol):
    """An interactive host that can ask the user. ``None`` means no answer (treated as deny)."""

    def ask(self, request: PromptRequest) -> PromptAnswer | None: ...


@dataclass(frozen=True)
class StoredDecision:
    """A remembered decision for one extension + capability (``capability`` may name a target: ``http:host``)."""

    extension_id: str
    capability: str
    allow: bool
    scope: str
    decided_at_ms: int
    expires_at_ms: int | None = None
    #: The identity source it belongs to (see the module docstring); None: unscoped.
    source: str | None = None

    def live(self, now_ms: int) -> bool:
        return self.expires_at_ms is None or now_ms < self.expires_at_ms


def source_candidates(identity: ExtensionIdentity | None) -> tuple[str | None, ...]:
    """The stored ``source`` values ``identity``'s decisions may come from, most specific first."""
    if identity is None:
        return (None,)
    own = (identity.source_key, str(identity.kind))
    return own if identity.kind is SourceKind.PROJECT else (*own, None)


@dataclass(frozen=True)
class PromptResolution:
    """How a prompt was settled; ``reason`` is a ledger reason code."""

    allow: bool
    reason: Reason
    scope: str | None = None


def _covers(capability: str | None, key: str) -> bool:
    """Whether revoking ``capability`` (None: all) removes the decision stored under ``key`` (``http:host`` too)."""
    return capability is None or key == capability or key.startswith(capability + ":")


def _decision_from_json(item: object) -> StoredDecision | None:
    """A stored decision with every field of the right type, else None."""
    if not isinstance(item, dict) or set(item) - {f.name for f in fields(StoredDecision)}:
        return None
    expires = item.get("expires_at_ms")
    decided = item.get("decided_at_ms")
    valid = (
        isinstance(item.get("extension_id"), str) and isinstance(item.get("capability"), str)
        and isinstance(item.get("allow"), bool) and item.get("scope") in SCOPES
        and isinstance(decided, int) and not isinstance(decided, bool)
        and (expires is None or (isinstance(expires, int) and not isinstance(expires, bool)))
        and (item.get("source") is None or kind_of_source_key(item.get("source")) is not None)
    )
    return StoredDecision(**item) if valid else None


class PermissionStore:
    """Persisted ``always`` decisions in ``<state dir>/permissions.json`` (atomic rewrite)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PERMISSIONS_FILE
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._decisions = self._read()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        """Re-read the file when another process changed it (caller holds the lock).

        Without this, a ``pi-sandbox policy revoke`` run while a host is up would not reach the host, and the
        host's next write would resurrect the revoked decision.
        """
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._decisions = self._read()
            self._stamp = stamp

    def _read(self) -> dict[tuple[str, str | None, str], StoredDecision]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as exc:
            raise StateDirError(
                f"cannot read permission decisions {self.path}: {exc}; fix or move the file aside "
                "(it is never overwritten while unreadable)"
            ) from None
        if not isinstance(raw, dict) or raw.get("schema") != schemas.PERMISSION_STORE:
            raise StateDirError(f"{self.path} is not a {schemas.PERMISSION_STORE} file; move it aside")
        items = raw.get("decisions", [])
        if not isinstance(items, list):
            raise StateDirError(f"{self.path}: 'decisions' must be a list; fix or move the file aside")
        out: dict[tuple[str, str | None, str], StoredDecision] = {}
        for item in items:
            decision = _decision_from_json(item)
            if decision is None:
                # Strict types: a hand-edited ``"allow": "false"`` is truthy and would grant.
                raise StateDirError(f"{self.path}: malformed decision entry {item!r}; fix or move the file aside")
            out[(decision.extension_id, decision.source, decision.capability)] = decision
        return out

    def _write(self) -> None:
        body = {"schema": schemas.PERMISSION_STORE, "decisions": [asdict(d) for d in self._decisions.values()]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".permissions.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            self._stamp = self._file_stamp()
        except OSError as exc:
            raise StateDirError(f"cannot write permission decisions {self.path}: {exc}") from None

    def get(self, extension_id: str, capability: str, now_ms: int | None = None,
            sources: tuple[str | None, ...] = (None,)) -> StoredDecision | None:
        """The live decision for this id and capability from the first of ``sources`` that has one
        (:func:`source_candidates`; expiry is checked on every lookup)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            try:
                self._refresh()
            except StateDirError:
                return None  # unreadable now: no remembered decision, so the prompt path fails closed
            for source in sources:
                decision = self._decisions.get((extension_id, source, capability))
                if decision is not None and decision.live(now):
                    return decision
        return None

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Hold the in-process lock and an exclusive lock on ``permissions.json.lock`` (read-modify-write).

        Without the file lock, a ``pi-sandbox policy revoke`` landing between a host's re-read and its write
        was overwritten, and the revoked grant came back.
        """
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(self.path.parent / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StateDirError(f"cannot lock permission decisions in {self.path.parent}: {exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    def put(self, decision: StoredDecision) -> None:
        with self._file_lock():
            self._refresh()
            self._decisions[(decision.extension_id, decision.source, decision.capability)] = decision
            self._write()

    def bind_unscoped(self, recorded_kind: Callable[[str], SourceKind | None]) -> int:
        """Migrate decisions stored before identities: one whose extension was last recorded (by trust) as a
        project extension is bound to ``project``, so it keeps its meaning for that source and no longer
        reaches the user's own extension of the same id; the others stay unscoped (the user's own sources).
        Returns how many were bound (the file is rewritten only then)."""
        with self._file_lock():
            try:
                self._refresh()
            except StateDirError:
                return 0  # an unreadable file is left alone (never overwritten)
            bound = {k: d for k, d in self._decisions.items()
                     if d.source is None and recorded_kind(d.extension_id) is SourceKind.PROJECT}
            for key, decision in bound.items():
                del self._decisions[key]
                moved = replace(decision, source=str(SourceKind.PROJECT))
                self._decisions.setdefault((moved.extension_id, moved.source, moved.capability), moved)
            if bound:
                self._write()
        return len(bound)

    def revoke(self, extension_id: str, capability: str | None = None) -> int:
        """Forget decisions for an extension (one capability or all); returns how many were removed."""
        with self._file_lock():
            self._refresh()
            keys = [k for k in self._decisions if k[0] == extension_id and _covers(capability, k[2])]
            for key in keys:
                del self._decisions[key]
            if keys:
                self._write()
        return len(keys)

    def __iter__(self) -> Iterator[StoredDecision]:
        with self._lock:
            self._refresh()
            return iter(list(self._decisions.values()))


class PromptResolver:
    """Settles ``prompt`` decisions from the session cache, the store, then the prompter."""

    def __init__(self, store: PermissionStore, prompter: Prompter | None = None) -> None:
        self.store = store
        self.prompter = prompter
        self._session: dict[tuple[str, str | None, str], StoredDecision] = {}
        self._lock = threading.Lock()

    def resolve(self, request: PromptRequest) -> PromptResolution:
        key = (request.extension_id, request.source, request.key)
        now = int(time.time() * 1000)
        with self._lock:
            cached = self._session.get(key)
        if cached is not None and cached.live(now):
            reason = Reason.PROMPT_CACHE_ALLOW if cached.allow else Reason.PROMPT_CACHE_DENY
            return PromptResolution(cached.allow, reason, cached.scope)
        stored = self.store.get(request.extension_id, request.key, now_ms=now,
                                sources=source_candidates(request.identity))
        if stored is not None:
            reason = Reason.PROMPT_STORE_ALLOW if stored.allow else Reason.PROMPT_STORE_DENY
            return PromptResolution(stored.allow, reason, stored.scope)
        if self.prompter is None:
            return PromptResolution(False, Reason.PROMPT_HEADLESS_DENY)
        try:
            with waiting_for_a_person():  # the person's time is bounded by the prompt timeout, not the deadline
                answer = self.prompter.ask(request)
        except Exception:  # a broken UI must fail closed, never open
            answer = None
        if answer is UNASKED:
            return PromptResolution(False, Reason.PROMPT_HEADLESS_DENY)
        if answer is None:
            return PromptResolution(False, Reason.PROMPT_NO_ANSWER_DENY)
        if not isinstance(answer, PromptAnswer):
            return PromptResolution(False, Reason.PROMPT_INVALID_ANSWER_DENY)
        expires = answer.expires_at_ms
        if answer.scope not in SCOPES or not isinstance(answer.allow, bool) or (
                expires is not None and (isinstance(expires, bool) or not isinstance(expires, int))):
            # A malformed answer is a broken UI (``allow="no"`` is truthy): fail closed, and let the
            # pipeline record the deny instead of raising out of the hostcall with no ledger entry.
            return PromptResolution(False, Reason.PROMPT_INVALID_ANSWER_DENY)
        decision = StoredDecision(request.extension_id, request.key, answer.allow, answer.scope, now,
                                  answer.expires_at_ms, request.source)
        if answer.scope == "session":
            with self._lock:
                self._session[key] = decision
        elif answer.scope == "always":
            self.store.put(decision)
        return PromptResolution(answer.allow, Reason.PROMPT_USER_ALLOW if answer.allow else Reason.PROMPT_USER_DENY,
                                answer.scope)

    def revoke(self, extension_id: str, capability: str | None = None) -> int:
        """Forget session and persisted decisions for an extension."""
        with self._lock:
            keys = [k for k in self._session if k[0] == extension_id and _covers(capability, k[2])]
            for key in keys:
                del self._session[key]
        return len(keys) + self.store.revoke(extension_id, capability)
