"""Files that hold secrets: one table, extendable in settings, read only with an explicit allow.

A path is a secret file when its last component (or, for a pattern with ``/``, its last components)
matches a pattern of :data:`SECRET_FILE_PATTERNS` or ``secretBroker.extraSecretFiles``, compared
case-insensitively (a ``.ENV`` holds the same secrets as a ``.env``). Such a file is neither read,
written nor deleted through ``fs`` and the file tools, and ``grep``/``find`` skip it — there is no
match oracle to rebuild it from — unless the calling extension's ``perExtension.<id>.readSecretFiles``
names it. Listing a folder and ``stat`` still show that it exists.

Patterns are globs (:func:`glob_regex`): ``*`` and ``?`` never cross a ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

#: ``(pattern, what it holds)``: the built-in table (docs/mediation.md publishes it).
SECRET_FILE_TABLE: Final[tuple[tuple[str, str], ...]] = (
    (".env", "dotenv variables"),
    (".env.*", "dotenv variables per environment (.env.local, .env.production, .env.example)"),
    ("*.env", "dotenv variables (prod.env)"),
    (".envrc", "direnv variables"),
    ("*.pem", "PEM keys and certificates"),
    ("*.key", "private keys"),
    ("*.p12", "PKCS#12 key stores"),
    ("*.pfx", "PKCS#12 key stores"),
    ("*.jks", "Java key stores"),
    ("*.keystore", "key stores"),
    ("*.ppk", "PuTTY private keys"),
    ("*.kdbx", "KeePass databases"),
    ("*.asc", "armored PGP keys"),
    ("*.gpg", "PGP-encrypted or key files"),
    ("id_rsa*", "SSH keys (id_rsa, id_rsa_work; the .pub halves too)"),
    ("id_dsa*", "SSH keys"),
    ("id_ecdsa*", "SSH keys (also id_ecdsa_sk)"),
    ("id_ed25519*", "SSH keys (also id_ed25519_sk)"),
    ("id_xmss*", "SSH keys"),
    (".ssh/*", "everything in an .ssh folder (keys under any name, such as id_github)"),
    (".npmrc", "npm registry tokens"),
    (".yarnrc.yml", "yarn registry tokens"),
    (".pypirc", "PyPI upload credentials"),
    (".netrc", "machine logins"),
    ("_netrc", "machine logins (Windows)"),
    (".git-credentials", "git HTTPS credentials"),
    (".pgpass", "PostgreSQL passwords"),
    (".my.cnf", "MySQL client passwords"),
    (".htpasswd", "HTTP basic-auth passwords"),
    (".vault-token", "Vault token"),
    (".dockercfg", "registry logins"),
    (".docker/config.json", "registry logins"),
    ("credentials", "cloud CLI credentials (~/.aws/credentials)"),
    ("credentials.json", "service credentials"),
    ("credentials.yml", "service credentials"),
    ("credentials.yml.enc", "Rails encrypted credentials"),
    ("master.key", "Rails master key"),
    ("secrets.json", "application secrets"),
    ("secrets.yml", "application secrets"),
    ("secrets.yaml", "application secrets"),
    ("*.tfvars", "Terraform variables (often credentials)"),
    ("*.tfstate", "Terraform state (holds every secret it created)"),
    ("*.tfstate.backup", "Terraform state backup"),
    (".kube/config", "Kubernetes credentials"),
    ("kubeconfig", "Kubernetes credentials"),
    ("service-account*.json", "cloud service-account keys"),
    ("*-credentials.json", "cloud service-account keys"),
)

SECRET_FILE_PATTERNS: Final[tuple[str, ...]] = tuple(p for p, _ in SECRET_FILE_TABLE)


def glob_regex(pattern: str) -> str:
    """A glob as a regex: ``*`` → any run without ``/``, ``?`` → one such character, ``[...]`` and
    ``[!...]`` → a character class; everything else literal."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        end = pattern.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif end != -1:
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            members = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^/' if negate else ''}{members}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out) + r"\Z"


def _compile(patterns: Iterable[str]) -> tuple[tuple[int, re.Pattern[str]], ...]:
    """(number of path components, regex) per pattern, lower-cased (matching is case-insensitive)."""
    out = []
    for pattern in patterns:
        text = pattern.strip().strip("/").lower()
        if text:
            out.append((text.count("/") + 1, re.compile(glob_regex(text))))
    return tuple(out)


def _combined(compiled: tuple[tuple[int, re.Pattern[str]], ...]) -> tuple[tuple[int, re.Pattern[str]], ...]:
    """One alternation per number of path components: a path is matched once per depth (two regex runs
    for the built-in table) instead of once per pattern."""
    by_depth: dict[int, list[str]] = {}
    for depth, regex in compiled:
        by_depth.setdefault(depth, []).append(f"(?:{regex.pattern})")
    return tuple((depth, re.compile("|".join(alts))) for depth, alts in sorted(by_depth.items()))


def _any_match(combined: tuple[tuple[int, re.Pattern[str]], ...], lowered: str) -> bool:
    """Whether the last components of ``lowered`` (a lower-cased ``/``-separated path) match a pattern.

    ``rsplit`` keeps only the components the deepest pattern needs; for every depth up to it, the last
    ``depth`` parts are the ones a full ``split`` would give."""
    if not combined:
        return False
    parts = lowered.rsplit("/", combined[-1][0])
    count = len(parts)
    for depth, regex in combined:
        if count >= depth and regex.match(parts[-1] if depth == 1 else "/".join(parts[-depth:])):
            return True
    return False


_GLOB_CHARS: Final = frozenset("*?[")


@dataclass(frozen=True)
class _NameFilter:
    """A cheap first look at one folder's entry names: the names a last-component pattern *could* match
    (exact names, ``*suffix``, ``prefix*``; other globs by regex), and the folders whose entries a
    two-part pattern (``.ssh/*``) names. C-level string tests instead of a 50-way regex per name: the exec
    sandbox looks at every name in the top folders of the workspace on every call."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]
    prefixes: tuple[str, ...]
    other: re.Pattern[str] | None
    folders: frozenset[str]

    @classmethod
    def of(cls, patterns: Iterable[str]) -> _NameFilter:
        exact: set[str] = set()
        suffixes: list[str] = []
        prefixes: list[str] = []
        other: list[str] = []
        folders: set[str] = set()
        for pattern in patterns:
            text = pattern.strip().strip("/").lower()
            if "/" in text:
                folders.add(text.rsplit("/", 2)[-2])
                continue
            globs = [i for i, c in enumerate(text) if c in _GLOB_CHARS]
            if not globs:
                exact.add(text)
            elif globs == [0]:
                suffixes.append(text[1:])
            elif globs == [len(text) - 1] and text[-1] == "*":
                prefixes.append(text[:-1])
            elif text:
                other.append(f"(?:{glob_regex(text)})")
        return cls(frozenset(exact), tuple(suffixes), tuple(prefixes),
                   re.compile("|".join(other)) if other else None, frozenset(folders))



@dataclass(frozen=True)
class SecretFiles:
    """Which resolved paths are secret files, and which of them one extension may still use."""

    patterns: tuple[str, ...] = SECRET_FILE_PATTERNS
    #: The calling extension's ``readSecretFiles`` (empty: none).
    allowed: tuple[str, ...] = ()
    #: Resolved paths the environment names as credential files or folders (``secret_locations.py``): secret
    #: whatever their name, and so is everything inside such a folder.
    locations: tuple[str, ...] = ()
    _secret: tuple[tuple[int, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)
    _allowed: tuple[tuple[int, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)

    _names: _NameFilter = field(init=False, repr=False, compare=False)
    _located: frozenset[str] = field(init=False, repr=False, compare=False)
    _location_parents: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_secret", _combined(_compile(self.patterns)))
        object.__setattr__(self, "_allowed", _combined(_compile(self.allowed)))
        object.__setattr__(self, "_names", _NameFilter.of(self.patterns))
        object.__setattr__(self, "_located", frozenset(p.rstrip("/") for p in self.locations))
        object.__setattr__(self, "_location_parents", frozenset(p.rstrip("/").rsplit("/", 1)[0] or "/"
                                                                for p in self.locations))

    def located(self, path: str) -> bool:
        """True when the absolute ``path`` is a location the environment names, or lies inside one."""
        located = self._located
        if not located or not path.startswith("/"):
            return False
        current = path.rstrip("/") or "/"
        while True:
            if current in located:
                return True
            if current == "/":
                return False
            current = current.rsplit("/", 1)[0] or "/"

    def refused_in(self, folder: str, names: Iterable[str]) -> list[str]:
        """Those of ``names`` (entries of the resolved folder ``folder``) that are secret files this
        extension may not use: what the exec sandbox masks. Files or folders alike (the caller keeps
        the regular files)."""
        first = self._names
        if self._located and (folder.rstrip("/") in self._location_parents or self.located(folder)):
            return [name for name in names if self.refused(folder.rstrip("/") + "/" + name)]
        if folder.rsplit("/", 1)[-1].lower() in first.folders:
            return [name for name in names if self.refused(folder + "/" + name)]
        exact, suffixes, prefixes, other = first.exact, first.suffixes, first.prefixes, first.other
        out = []
        for name in names:
            low = name.lower()
            if (low in exact or low.endswith(suffixes) or low.startswith(prefixes)
                    or (other is not None and other.match(low) is not None)) and self.refused(folder + "/" + name):
                out.append(name)
        return out

    def is_secret(self, path: str) -> bool:
        """True when ``path`` (absolute or relative, ``/``-separated) names a secret file, whoever asks.

        The runtime risk controller calls this on every path a call names, so it is one regex run per
        pattern depth (two for the built-in table)."""
        return _any_match(self._secret, path.lower()) or self.located(path)

    def refused(self, resolved: str) -> bool:
        """True when ``resolved`` (an absolute, resolved path) is a secret file this extension may not use."""
        lowered = resolved.lower()
        return ((_any_match(self._secret, lowered) or self.located(resolved))
                and not _any_match(self._allowed, lowered))

    def with_allowed(self, allowed: Iterable[str]) -> SecretFiles:
        """The same table with one extension's allow list."""
        return SecretFiles(self.patterns, tuple(allowed), self.locations)


def secret_file_table_markdown() -> str:
    """The built-in table as published in docs/mediation.md."""
    rows = ["| pattern | holds |", "|---|---|"]
    rows += [f"| `{p}` | {what} |" for p, what in SECRET_FILE_TABLE]
    return "\n".join(rows)
