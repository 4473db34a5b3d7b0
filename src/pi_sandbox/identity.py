"""An extension's identity: its id **plus** where its code comes from and what that code is.

Two extensions with the same id are not the same extension when they come from different sources:
the user's installed copy of ``formatter`` and a cloned repository's ``.pi/extensions/formatter.ts``
share a name and nothing else. Everything that is granted to an extension over time — remembered
prompt decisions, trust — is therefore keyed by the identity's :attr:`ExtensionIdentity.source_key`
as well as the id, and a project-local extension may never load under an id that an installed or
global extension holds (``runtime.identity``).

Sources, most to least trusted by the user:

* ``installed`` — put there by ``pi-sandbox ext install`` and pinned in the lockfile;
* ``global``    — the user's own folders (``~/.pi/agent/extensions``, ``~/.pi/agent/sandboxed-extensions``
  without a pin, user-scope pi packages);
* ``path``      — named explicitly (``-e PATH``, a settings ``extensions`` path outside the project);
* ``project``   — found in the project (``<project>/.pi/extensions``, ``.pi/sandboxed-extensions``,
  project pi packages, settings paths inside the project or named only by the project's settings file):
  code that came with a repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pi_sandbox.hashing import sha256_hex


class SourceKind(StrEnum):
    """Where an extension's code comes from."""

    INSTALLED = "installed"
    GLOBAL = "global"
    PATH = "path"
    PROJECT = "project"


#: Sources whose ids a project-local extension may never claim.
HOLDING_KINDS: Final = frozenset({SourceKind.INSTALLED, SourceKind.GLOBAL})

#: Discovery origins (``runtime.discovery.ExtensionSource.origin``) and the source kind each is, before
#: the lockfile is consulted (a pinned copy is ``installed`` wherever it was found) and before a settings
#: path is placed (inside the project it is ``project``). Also how records written before identities
#: existed (trust entries kept the origin) are read: their data keeps the meaning it had for that source.
ORIGIN_KINDS: Final[dict[str, SourceKind]] = {
    "sandboxed": SourceKind.GLOBAL,
    "agent": SourceKind.GLOBAL,
    "pi-user": SourceKind.GLOBAL,
    "project": SourceKind.PROJECT,
    "project-sandboxed": SourceKind.PROJECT,
    "pi-project": SourceKind.PROJECT,
    "project-settings": SourceKind.PROJECT,
    "settings": SourceKind.PATH,
    "cli": SourceKind.PATH,
    "": SourceKind.PATH,
}

#: Length of the location hash in a source key (enough to tell two checkouts apart).
_LOCATION_HASH_CHARS: Final = 12


def kind_of_source_key(key: str | None) -> SourceKind | None:
    """The source kind a stored source key (or a legacy origin string) stands for; None when unknown."""
    if not key:
        return None
    head = key.split(":", 1)[0]
    try:
        return SourceKind(head)
    except ValueError:
        return ORIGIN_KINDS.get(head)


def same_source(recorded: str | None, current: str) -> bool:
    """Whether a recorded source (a source key, or a discovery origin in records from before identities)
    is the source ``current`` names. A legacy origin matches the kinds it stood for: ``sandboxed`` held both
    installed and unpinned copies; a legacy project or path origin recorded no location, so it matches any
    location of that kind (its data keeps the meaning it had)."""
    if recorded is None or recorded == current:
        return recorded == current
    if recorded in ORIGIN_KINDS:
        kinds = {ORIGIN_KINDS[recorded], *((SourceKind.INSTALLED,) if recorded == "sandboxed" else ())}
        return kind_of_source_key(current) in kinds
    return False


@dataclass(frozen=True)
class ExtensionIdentity:
    """Who an extension is: id, source kind, where its code lives and its content hash."""

    extension_id: str
    kind: SourceKind
    #: The extension's resolved root folder (its code).
    location: str
    #: The bundle's SHA-256 once it is built (None before).
    content_hash: str | None = None

    @property
    def source_key(self) -> str:
        """What grants are stored under besides the id.

        ``installed`` and ``global`` are the user's own: one per id. ``project`` and ``path`` name the
        location too, so a decision given to one checkout's extension does not reach another
        checkout's extension of the same id.
        """
        if self.kind in HOLDING_KINDS:
            return str(self.kind)
        return f"{self.kind}:{sha256_hex(self.location)[:_LOCATION_HASH_CHARS]}"

    def matches_key(self, stored: str | None) -> bool:
        """Whether a decision stored under ``stored`` belongs to this identity.

        Exact keys match; a kind-only key (data migrated from before identities, which did not
        record the location) matches every identity of that kind.
        """
        if stored is None:
            return False
        return stored == self.source_key or stored == str(self.kind)

    def to_dict(self) -> dict[str, str | None]:
        """JSON form (ledger details, ``summary()``)."""
        return {"id": self.extension_id, "source": str(self.kind), "source_key": self.source_key,
                "location_hash": sha256_hex(self.location)[:_LOCATION_HASH_CHARS],
                "content_hash": self.content_hash}
