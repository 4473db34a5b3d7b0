"""Credential files the environment points at: secret files whatever their name and wherever they lie.

The secret-file table (``secret_files.py``) knows secrets by name (``.env``, ``*.pem``, ``credentials.json``
...) and the sandbox hides the credential stores of the home (``~/.aws``, ``~/.kube`` ...). But the
environment routinely names credential files somewhere else, under any name:
``GOOGLE_APPLICATION_CREDENTIALS=./gcp-key.json`` (a service-account private key, kept in the project and
git-ignored, as gcloud's own guides do it), ``KUBECONFIG=/srv/k3s.yaml``, ``AWS_SHARED_CREDENTIALS_FILE``,
``DOCKER_CONFIG``, ``PGPASSFILE``, ``NETRC``, ``GNUPGHOME``. The broker withheld the *variable* (its value is
only a path) while the file itself was readable by the extension's ``read`` and by every exec child (``cat
gcp-key.json`` printed the private key; nothing redacts it, it is no value of the environment).

A location is a path (existing regular file or folder) that a variable of the supervisor's environment names
when either the variable is a well-known credential location (:data:`LOCATION_VARS`, withheld or not: pointers
such as ``DOCKER_CONFIG`` are not secrets themselves) or the broker withholds the variable by its name and its
value is spelled as a path (``/..``, ``~/..``, ``./..``: ``SERVICE_KEY_FILE=/opt/keys/svc.json``). Folders too
broad to hide — the root, or one holding the workspace, the home or the state dir — are left out (hiding them
would hide the workspace; what they hold is judged by name as before).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.mediation.secret_names import name_rule

#: Variables that name a credential file or folder (tools read their secrets there).
LOCATION_VARS: Final = frozenset({
    # cloud providers
    "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GHA_CREDS_PATH", "CLOUDSDK_CONFIG", "BOTO_CONFIG", "BOTO_PATH",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AZURE_CONFIG_DIR", "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH", "OCI_CLI_CONFIG_FILE", "OCI_CLI_KEY_FILE", "ALIBABA_CLOUD_CREDENTIALS_FILE",
    # clusters, registries, secrets managers
    "KUBECONFIG", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "HELM_REGISTRY_CONFIG", "VAULT_CONFIG_PATH",
    "TF_CLI_CONFIG_FILE", "TERRAFORM_CONFIG", "OP_CONFIG_DIR", "SOPS_AGE_KEY_FILE",
    # git and developer tools
    "GH_CONFIG_DIR", "GLAB_CONFIG_DIR", "PIP_CONFIG_FILE",
    # keys, passwords and logins
    "GNUPGHOME", "PASSWORD_STORE_DIR", "NETRC", "CURL_NETRC", "PGPASSFILE", "PGSERVICEFILE", "PGSSLKEY",
    "MYSQL_TEST_LOGIN_FILE", "KRB5CCNAME", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME",
})
#: Location variables that hold a list of paths (``os.pathsep``-separated).
LIST_VARS: Final = frozenset({"KUBECONFIG", "BOTO_PATH"})
#: ``FILE:`` / ``DIR:`` prefixes of Kerberos cache names.
_KRB_PREFIXES: Final = ("FILE:", "DIR:")
_MAX_VALUE: Final = 4096
_PATH_SPELLINGS: Final = ("/", "~/", "./", "../")


def _withheld_by_name(settings: SecretBrokerSettings, name: str) -> bool:
    """Whether the broker withholds ``name`` by its name (the broker's own rules and settings)."""
    upper = name.upper()
    if upper in {n.upper() for n in settings.disclosure_allowlist}:
        return False
    return name_rule(name, extra_names=frozenset(n.upper() for n in settings.extra_names),
                     extra_suffixes=tuple(s.upper() for s in settings.extra_suffixes),
                     extra_prefixes=tuple(p.upper() for p in settings.extra_prefixes)) is not None


def _spellings(name: str, value: str, location: bool) -> Iterator[str]:
    """The path spellings ``value`` holds."""
    parts = value.split(os.pathsep) if name.upper() in LIST_VARS else [value]
    for part in parts:
        part = part.strip()
        for prefix in _KRB_PREFIXES:
            part = part.removeprefix(prefix)
        if part.startswith("file://"):
            part = part[len("file://"):]
        if not part or "\n" in part or "\0" in part:
            continue
        if location or part.startswith(_PATH_SPELLINGS):
            yield part


def _too_broad(path: str, keep: Iterable[str]) -> bool:
    """A folder whose hiding would hide the root, the workspace, the home or the state dir."""
    if path == "/":
        return True
    return any(k == path or k.startswith(path.rstrip("/") + "/") for k in keep)


def credential_locations(settings: SecretBrokerSettings, environ: Mapping[str, str], *, cwd: str,
                         keep: Iterable[str] = ()) -> tuple[str, ...]:
    """Resolved paths of the credential files and folders ``environ`` names (see the module doc).

    ``cwd`` resolves relative spellings (pi's working folder: the project); ``keep`` are folders never hidden
    whole (the workspace, the home, the state dir) — a location that is one of them or holds one is skipped.
    Empty when the broker is off (the secret-file table is off then too).
    """
    if not settings.enabled:
        return ()
    kept = [os.path.realpath(k) for k in keep]
    found: dict[str, None] = {}
    for name, value in environ.items():
        if len(value) > _MAX_VALUE:
            continue
        location = name.upper() in LOCATION_VARS
        if not location and not _withheld_by_name(settings, name):
            continue
        for spelling in _spellings(name, value, location):
            path = os.path.realpath(os.path.join(cwd, os.path.expanduser(spelling)))
            try:
                is_dir = os.path.isdir(path)
                is_file = os.path.isfile(path)
            except (OSError, ValueError):
                continue
            if is_file or (is_dir and not _too_broad(path, kept)):
                found[path] = None
    return tuple(found)
