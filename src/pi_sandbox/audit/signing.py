"""The Ed25519 ledger signing key: created once, kept in the state dir, never in the database.

The private key (``ledger-signing.key``, raw 32 bytes hex, mode 0600) is what makes a checkpoint
unforgeable: someone who can edit ``security.db`` but cannot read the key cannot re-seal a
rewritten chain. The public key is copied into ``ledger-signing.pub`` and into every checkpoint
row so that verification needs no secret.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pi_sandbox.errors import SigningKeyError

KEY_FILE: Final = "ledger-signing.key"
PUBLIC_KEY_FILE: Final = "ledger-signing.pub"


def _write_exclusive(path: Path, data: str, mode: int) -> bool:
    """Atomically create ``path`` with ``data`` unless it exists; True when this call created it.

    Written to a private temp file first and hard-linked into place, so a concurrent opener never
    sees a half-written key (link fails if another process won the race).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def _parse_private(path: Path, text: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise SigningKeyError(
            f"ledger signing key {path} is not a 32-byte hex Ed25519 key; restore it from backup "
            "(existing checkpoints can only be verified against the original key)"
        ) from None


def load_or_create_signing_key(state_dir: Path) -> Ed25519PrivateKey:
    """The state dir's signing key, created (mode 0600) on first use.

    Refuses a key file readable or writable by group/other: a key others can read no longer proves
    that a checkpoint came from this host.
    """
    path = state_dir / KEY_FILE
    if not path.exists():
        fresh = Ed25519PrivateKey.generate()
        _write_exclusive(path, fresh.private_bytes_raw().hex() + "\n", 0o600)
    try:
        info = path.stat()
        if info.st_mode & 0o077:
            raise SigningKeyError(
                f"ledger signing key {path} has unsafe permissions "
                f"{stat.S_IMODE(info.st_mode):04o}; it must be readable by its owner only "
                f"(run: chmod 600 {path}) — refusing to use it"
            )
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise SigningKeyError(f"cannot read ledger signing key {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        text = ""
    key = _parse_private(path, text)
    _ensure_public_file(state_dir, key)
    return key


def _ensure_public_file(state_dir: Path, key: Ed25519PrivateKey) -> None:
    pub_path = state_dir / PUBLIC_KEY_FILE
    expected = _public_hex(key)
    if not pub_path.exists():
        _write_exclusive(pub_path, expected + "\n", 0o644)
        return
    try:
        found = pub_path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        found = ""
    if found != expected:
        raise SigningKeyError(
            f"{pub_path} does not match the private key in {state_dir / KEY_FILE}; one of them was "
            "replaced — restore the original pair from backup before writing to the ledger"
        )


def trusted_public_key(state_dir: Path) -> tuple[str | None, str]:
    """The public key verification should trust, and where it came from.

    Prefers the private key file (if readable) over ``ledger-signing.pub``; returns ``(None,
    "none")`` when neither exists, in which case checkpoints are checked against their own stored
    key only (and the report says so).
    """
    key_path = state_dir / KEY_FILE
    try:
        text = key_path.read_text(encoding="ascii")
        return _public_hex(_parse_private(key_path, text)), "private_key"
    except (OSError, UnicodeDecodeError, SigningKeyError):
        pass
    try:
        found = (state_dir / PUBLIC_KEY_FILE).read_text(encoding="ascii").strip()
        bytes.fromhex(found)
        return found, "public_key_file"
    except (OSError, UnicodeDecodeError, ValueError):
        return None, "none"


def sign(key: Ed25519PrivateKey, payload: bytes) -> str:
    """Hex Ed25519 signature of ``payload``."""
    return key.sign(payload).hex()


def public_key_hex(key: Ed25519PrivateKey) -> str:
    """Hex of the raw public key."""
    return _public_hex(key)


def signature_valid(public_hex: str, signature_hex: str, payload: bytes) -> bool:
    """True when ``signature_hex`` is a valid signature of ``payload`` under ``public_hex``."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), payload
        )
        return True
    except (ValueError, InvalidSignature):
        return False
