"""Which environment variables are secrets (by name or by value) and which must never reach a child.

Name rules (:mod:`.secret_names`) are the union of the runbook's list (26 exact / 11 suffixes / 2
prefixes), the reference HEAD's list (16 / 10 / 3) and much more: cloud providers, CI systems,
databases, package registries, AI providers, SaaS APIs, agent sockets, wallets, sessions and cookies.
Value rules recognise token shapes, PEM keys, JWTs, credential-bearing URLs and high-entropy strings,
so a secret under an innocent name is still caught.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

# --------------------------------------------------------------------------------- value rules

VALUE_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("value_pem_private_key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("value_openai_anthropic_key", re.compile(r"\bsk-(?:ant-|proj-|live-)?[A-Za-z0-9_-]{20,}")),
    ("value_github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("value_gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("value_aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("value_slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("value_google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("value_npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}")),
    ("value_pypi_token", re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}")),
    ("value_huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("value_stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("value_sendgrid_key", re.compile(r"\bSG\.[\w-]{16,}\.[\w-]{16,}")),
    ("value_jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("value_url_with_password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@", re.I)),
    # A credential as a field of a URL query or a connection string: ``jdbc:...?user=app&password=...``,
    # ``Server=x;User Id=sa;Password=...;``, ``AccountKey=...``, an S3/GCS signed URL, ``?access_token=...``.
    ("value_credential_field", re.compile(
        r"(?:^|[?&;,\s])(?:[a-z0-9]+[_-])*(?:password|passwd|pwd|pass|secret|token|api[_-]?key|accountkey|"
        r"sharedaccesskey|sharedaccesssignature|signature|sig|credentials?)\s*=\s*[^&;,\s'\"]{4,}", re.I)),
    # Webhook URLs are the credential themselves: whoever has one posts as the integration.
    ("value_webhook_url", re.compile(
        r"https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:[a-z0-9-]+\.)?discord(?:app)?\.com/api/"
        r"webhooks/|[a-z0-9-]+\.webhook\.office\.com/|outlook\.office\.com/webhook/|chat\.googleapis\.com/v1/spaces/)",
        re.I)),
)

_TOKENISH = re.compile(r"^[A-Za-z0-9+/=_\-.~]{24,}$")
#: A token inside a larger value (a URL's path segment or query value, a field of a connection string): the
#: characters of base64 and URL-safe tokens, without the ``/ . ~`` that would join a whole URL into one "token".
_EMBEDDED_TOKEN = re.compile(r"[A-Za-z0-9+=_-]{24,}")


def shannon_entropy(text: str) -> float:
    """Bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    size = len(text)
    return -sum(c / size * math.log2(c / size) for c in counts.values())


def value_rule(value: str) -> str | None:
    """The value rule a string matches (token shape, PEM, JWT, credential URL, high entropy), if any."""
    for rule, pattern in VALUE_RULES:
        if pattern.search(value):
            return rule
    stripped = value.strip()
    # High entropy: one token of mixed-case letters and digits; paths, lists, SHAs and UUIDs do not qualify.
    if _TOKENISH.match(stripped) and _random_looking(stripped):
        return "value_high_entropy"
    # The same inside a larger value: a bot token in a URL path (``https://api.telegram.org/bot1:AAH.../``), a
    # webhook's secret segment, a key as one field of a list. Before, only a value that was one token qualified.
    if any(_random_looking(token) for token in _EMBEDDED_TOKEN.findall(value)):
        return "value_embedded_token"
    return None


def _random_looking(token: str) -> bool:
    """Mixed-case letters and digits at ≥ 4.2 bits per character: a generated token, not a word or a hex id."""
    return (any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)
            and shannon_entropy(token) >= 4.2)


# --------------------------------------------------------------------------------- child environment

#: Variables a child gets from the parent when present (and not secret).
CHILD_BASE: Final[tuple[str, ...]] = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_COLLATE",
    "LC_NUMERIC",
    "LC_TIME",
    "TERM",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TMP",
    "TEMP",
    "TZ",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "COLORTERM",
    "SYSTEMROOT",
    "COMSPEC",
    "PATHEXT",
    "WINDIR",
)

_INJECTION_EXACT = frozenset(
    "NODE_OPTIONS NODE_PATH NODE_REPL_EXTERNAL_MODULE NODE_EXTRA_CA_CERTS PYTHONPATH PYTHONSTARTUP PYTHONHOME "
    "PYTHONINSPECT PYTHONUSERBASE PYTHONWARNINGS PYTHONBREAKPOINT PYTHONEXECUTABLE BASH_ENV ENV SHELLOPTS BASHOPTS "
    "PS4 PROMPT_COMMAND IFS CDPATH GLOBIGNORE PERL5OPT PERL5LIB PERLLIB PERL5DB RUBYOPT RUBYLIB JAVA_TOOL_OPTIONS "
    "_JAVA_OPTIONS JDK_JAVA_OPTIONS CLASSPATH SSH_ASKPASS SUDO_ASKPASS EDITOR VISUAL PAGER MANPAGER LESSOPEN "
    "LESSCLOSE BROWSER GCONV_PATH LOCPATH NLSPATH HOSTALIASES RESOLV_HOST_CONF OPENSSL_CONF OPENSSL_ENGINES "
    "SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy "
    "https_proxy all_proxy ZDOTDIR XDG_CONFIG_HOME XDG_DATA_HOME DOTNET_STARTUP_HOOKS ELECTRON_RUN_AS_NODE "
    "VIMINIT EXINIT MYVIMRC LUA_INIT LUA_PATH LUA_CPATH TCLLIBPATH PHPRC PHP_INI_SCAN_DIR INPUTRC KRB5_CONFIG "
    "TERMINFO PROFILE R_PROFILE R_PROFILE_USER NPM_CONFIG_USERCONFIG NPM_CONFIG_GLOBALCONFIG "
    # tool options and hooks that run commands (tar --to-command, make --eval, zip -TT, less +!cmd ...)
    "TAR_OPTIONS MAKEFLAGS GNUMAKEFLAGS MAKEFILES ZIPOPT LESS MORE MANOPT RSYNC_RSH RSYNC_CONNECT_PROG CVS_RSH "
    "FCEDIT SYSTEMD_PAGER SYSTEMD_EDITOR SUDO_EDITOR PSQL_PAGER WGETRC CURL_HOME PERLDB_OPTS BUNDLE_GEMFILE".split()
)
_INJECTION_PREFIXES = (
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "CORECLR_",
    "COR_PROFILER",
    "MALLOC_",
    "GLIBC_TUNABLES",
    "NPM_CONFIG_",
    "YARN_",
    "PIP_",
    "UV_",
    "LUA_INIT",
)
_GIT_SAFE = frozenset(
    {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_TERMINAL_PROMPT"}
)


def is_injection_var(name: str) -> bool:
    """True for variables that make a program load or run code of the setter's choosing."""
    upper = name.upper()
    if name in _INJECTION_EXACT or upper in _INJECTION_EXACT:
        return True
    if upper.startswith(_INJECTION_PREFIXES) or name.startswith("BASH_FUNC_"):
        return True
    return upper.startswith("GIT_") and upper not in _GIT_SAFE
