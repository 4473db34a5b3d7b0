"""Which source an extension comes from, and which ids a project-local extension may not claim.

:func:`classify` turns a discovery origin plus the lockfile into a :class:`~pi_sandbox.identity.SourceKind`.
:func:`held_ids` lists the ids the user's own extensions hold: every id pinned in the lockfile
(installed, even while its files are missing) and every extension in the user's folders. A
project-local extension whose id is one of them — compared without case, since ``Formatter`` and
``formatter`` name the same thing to a person and to a case-insensitive file system — is refused
(:func:`claim_problem`); so is any non-installed code under an id the lockfile pins to other code.
The refusal is an ``identity_conflict`` load failure: a ledger entry and an ``integrity`` alert.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pi_sandbox.config.locations import pi_extension_folders, sandboxed_extension_folders
from pi_sandbox.errors import ExtensionIdentityError
from pi_sandbox.identity import HOLDING_KINDS, ORIGIN_KINDS, ExtensionIdentity, SourceKind
from pi_sandbox.scanner.integrity import PinIndex

#: Ledger/alert reason of a refused claim.
IDENTITY_CONFLICT: Final = "identity_conflict"


def id_key(extension_id: str) -> str:
    """How ids are compared for a claim: without case (``casefold``)."""
    return extension_id.casefold()


def classify(origin: str, root: Path, entry: Path, project_dir: Path, pins: PinIndex) -> SourceKind:
    """The source kind of one discovered entry.

    A copy the lockfile pins is ``installed`` wherever it was found; a ``settings`` path inside the
    project is the project's; otherwise the origin decides (unknown origins are ``path``).
    """
    if pins.find(root, entry) is not None:
        return SourceKind.INSTALLED
    kind = ORIGIN_KINDS.get(origin, SourceKind.PATH)
    if origin == "settings" and _inside(root, project_dir):
        return SourceKind.PROJECT
    return kind


def _inside(path: Path, folder: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip("/") + "/")


def identity_of(extension_id: str, origin: str, root: Path, entry: Path, project_dir: Path,
                pins: PinIndex) -> ExtensionIdentity:
    """The identity of one entry (content hash filled in once it is bundled)."""
    kind = classify(origin, root, entry, project_dir, pins)
    return ExtensionIdentity(extension_id, kind, os.path.realpath(root))


@dataclass(frozen=True)
class Holder:
    """Who holds an id: the kind and the location of its code."""

    extension_id: str
    kind: SourceKind
    location: str


def held_ids(pins: PinIndex, holders: Iterable[Holder] = ()) -> dict[str, Holder]:
    """Ids held by installed (lockfile) or global extensions, keyed by :func:`id_key`.

    Installed wins over global when both hold the same id (the lockfile is the stronger claim).
    """
    held: dict[str, Holder] = {}
    for holder in holders:
        if holder.kind in HOLDING_KINDS:
            current = held.get(id_key(holder.extension_id))
            if current is None or (current.kind is not SourceKind.INSTALLED and holder.kind is SourceKind.INSTALLED):
                held[id_key(holder.extension_id)] = holder
    for pin in pins.entries.values():
        # The pinned id (a sanitised package name) holds too, even while its files are missing.
        location = os.path.realpath(pin.install_path) if pin.install_path else ""
        held.setdefault(id_key(pin.extension_id), Holder(pin.extension_id, SourceKind.INSTALLED, location))
    return held


def user_holders(agent_dir: Path, project_dir: Path, pins: PinIndex) -> list[Holder]:
    """The extensions in the user's own folders, as holders (for loads that did not come from discovery)."""
    from pi_sandbox.runtime.discovery import scan_folder

    out: list[Holder] = []
    folders = (sandboxed_extension_folders(agent_dir, project_dir)[0], pi_extension_folders(agent_dir, project_dir)[0])
    for origin, folder in zip(("sandboxed", "agent"), folders, strict=True):
        for found in scan_folder(folder):
            kind = classify(origin, found.root, found.entry, project_dir, pins)
            out.append(Holder(found.extension_id, kind, os.path.realpath(found.root)))
    return out


def claim_problem(identity: ExtensionIdentity, held: Mapping[str, Holder]) -> str | None:
    """Why ``identity`` may not load under its id (None: it may).

    * a ``project`` extension may not use an id an installed or global extension holds;
    * no extension other than the installed copy may use an id the lockfile pins.
    """
    holder = held.get(id_key(identity.extension_id))
    if holder is None or identity.kind in HOLDING_KINDS and holder.location == identity.location:
        return None
    if identity.kind is SourceKind.PROJECT:
        return (f"extension id '{identity.extension_id}' from the project ({identity.location}) is held by the "
                f"user's {holder.kind} extension '{holder.extension_id}' ({holder.location}); a project may not "
                "take over the id, grants, remembered decisions or trust of the user's own extension. Rename the "
                "project's extension (its file, folder or package.json name) if it is a different one")
    if holder.kind is SourceKind.INSTALLED and identity.kind is not SourceKind.INSTALLED:
        return (f"extension id '{identity.extension_id}' ({identity.kind}, {identity.location}) is pinned in the "
                f"lockfile to the installed copy at {holder.location}; other code may not load under it. Install "
                "this code with `pi-sandbox ext install` or rename it")
    return None


def refuse_claim(identity: ExtensionIdentity, held: Mapping[str, Holder]) -> None:
    """Raise :class:`ExtensionIdentityError` when :func:`claim_problem` finds one."""
    problem = claim_problem(identity, held)
    if problem is not None:
        raise ExtensionIdentityError(problem)
