"""Which environment variables are secrets (by name or by value) and which must never reach a child.

Name rules are the union of the runbook's list (26 exact / 11 suffixes / 2 prefixes), the reference
HEAD's list (16 / 10 / 3) and much more: cloud providers, CI systems, databases, package registries,
AI providers, SaaS APIs and agent sockets. Value rules recognise token shapes, PEM keys, JWTs,
credential-bearing URLs and high-entropy strings, so a secret under an innocent name is still caught.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

_RUNBOOK_EXACT = (
    "ANTHROPIC_API_KEY OPENAI_API_KEY GOOGLE_API_KEY AZURE_OPENAI_API_KEY COHERE_API_KEY GROQ_API_KEY "
    "DEEPINFRA_API_KEY CEREBRAS_API_KEY OPENROUTER_API_KEY MISTRAL_API_KEY MOONSHOT_API_KEY DASHSCOPE_API_KEY "
    "DEEPSEEK_API_KEY FIREWORKS_API_KEY TOGETHER_API_KEY PERPLEXITY_API_KEY XAI_API_KEY DATABASE_URL REDIS_URL "
    "MONGODB_URI PRIVATE_KEY CARGO_REGISTRY_TOKEN NPM_TOKEN GH_TOKEN GITHUB_TOKEN AWS_ACCESS_KEY_ID"
)
_HEAD_EXACT = (
    "AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AZURE_CLIENT_SECRET DOCKER_PASSWORD SLACK_TOKEN STRIPE_SECRET_KEY "
    "TWILIO_AUTH_TOKEN SENDGRID_API_KEY"
)
_MORE_EXACT = (
    # cloud and infrastructure
    "AWS_SECURITY_TOKEN AWS_BEARER_TOKEN_BEDROCK AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE "
    "AZURE_STORAGE_KEY AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_SAS_TOKEN AZURE_CLIENT_CERTIFICATE_PATH "
    "AZURE_FEDERATED_TOKEN_FILE ARM_CLIENT_SECRET ARM_ACCESS_KEY ARM_SAS_TOKEN "
    "GOOGLE_APPLICATION_CREDENTIALS GOOGLE_CLOUD_KEYFILE_JSON GOOGLE_CREDENTIALS GCLOUD_SERVICE_KEY "
    "GCP_SERVICE_ACCOUNT_KEY CLOUDSDK_AUTH_ACCESS_TOKEN CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE "
    "DIGITALOCEAN_ACCESS_TOKEN DIGITALOCEAN_TOKEN HCLOUD_TOKEN LINODE_TOKEN VULTR_API_KEY CLOUDFLARE_API_TOKEN "
    "CF_API_KEY CF_API_TOKEN ALICLOUD_ACCESS_KEY ALICLOUD_SECRET_KEY HEROKU_API_KEY VERCEL_TOKEN "
    "NETLIFY_AUTH_TOKEN FLY_API_TOKEN RAILWAY_TOKEN RENDER_API_KEY SUPABASE_SERVICE_ROLE_KEY FIREBASE_TOKEN "
    "KUBECONFIG KUBE_TOKEN K8S_AUTH_TOKEN VAULT_TOKEN CONSUL_HTTP_TOKEN NOMAD_TOKEN PULUMI_ACCESS_TOKEN "
    "TF_API_TOKEN TFE_TOKEN ATLAS_TOKEN OS_PASSWORD OS_TOKEN OCI_CLI_KEY_FILE IBMCLOUD_API_KEY "
    # CI systems
    "CI_JOB_TOKEN CI_JOB_JWT CI_JOB_JWT_V1 CI_JOB_JWT_V2 CI_REGISTRY_PASSWORD CI_DEPLOY_PASSWORD "
    "CI_BUILD_TOKEN ACTIONS_ID_TOKEN_REQUEST_TOKEN ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_RUNTIME_TOKEN "
    "GH_ENTERPRISE_TOKEN GITHUB_PAT GITLAB_TOKEN GL_TOKEN GITLAB_PRIVATE_TOKEN BITBUCKET_APP_PASSWORD "
    "CIRCLE_TOKEN CIRCLECI_TOKEN TRAVIS_TOKEN BUILDKITE_AGENT_TOKEN BUILDKITE_AGENT_ACCESS_TOKEN DRONE_TOKEN "
    "JENKINS_API_TOKEN SYSTEM_ACCESSTOKEN CODECOV_TOKEN COVERALLS_REPO_TOKEN SONAR_TOKEN SNYK_TOKEN "
    # databases and queues
    "MONGO_URL MONGO_URI MONGODB_URL POSTGRES_URL POSTGRES_PASSWORD POSTGRESQL_URL PGPASSWORD PGPASSFILE "
    "MYSQL_PWD MYSQL_PASSWORD MYSQL_ROOT_PASSWORD MARIADB_ROOT_PASSWORD REDIS_PASSWORD REDISCLI_AUTH "
    "AMQP_URL RABBITMQ_URL CLOUDAMQP_URL ELASTIC_PASSWORD NEO4J_AUTH CASSANDRA_PASSWORD SNOWFLAKE_PASSWORD "
    "DATABRICKS_TOKEN TURSO_AUTH_TOKEN KAFKA_SASL_PASSWORD CLICKHOUSE_PASSWORD "
    # package registries
    "NPM_AUTH_TOKEN NODE_AUTH_TOKEN YARN_NPM_AUTH_TOKEN PYPI_TOKEN PYPI_API_TOKEN TWINE_PASSWORD "
    "UV_PUBLISH_TOKEN UV_PUBLISH_PASSWORD GEM_HOST_API_KEY NUGET_API_KEY HEX_API_KEY COMPOSER_AUTH "
    "GRADLE_PUBLISH_KEY GRADLE_PUBLISH_SECRET OSSRH_PASSWORD SONATYPE_PASSWORD DOCKERHUB_TOKEN DOCKER_AUTH_CONFIG "
    "HOMEBREW_GITHUB_API_TOKEN CHOCOLATEY_API_KEY JFROG_ACCESS_TOKEN ARTIFACTORY_API_KEY "
    # AI providers
    "GEMINI_API_KEY HF_TOKEN HUGGING_FACE_HUB_TOKEN HUGGINGFACEHUB_API_TOKEN REPLICATE_API_TOKEN AI21_API_KEY "
    "VOYAGE_API_KEY PINECONE_API_KEY LANGCHAIN_API_KEY LANGSMITH_API_KEY WANDB_API_KEY AZURE_OPENAI_KEY "
    "ANTHROPIC_AUTH_TOKEN COPILOT_TOKEN GITHUB_COPILOT_TOKEN OLLAMA_API_KEY VERTEX_API_KEY "
    # SaaS APIs and webhooks
    "SENTRY_DSN SENTRY_AUTH_TOKEN SLACK_BOT_TOKEN SLACK_WEBHOOK_URL DISCORD_TOKEN DISCORD_WEBHOOK_URL "
    "TELEGRAM_BOT_TOKEN STRIPE_API_KEY STRIPE_WEBHOOK_SECRET MAILGUN_API_KEY POSTMARK_SERVER_TOKEN DD_API_KEY "
    "DD_APP_KEY DATADOG_API_KEY NEW_RELIC_LICENSE_KEY NEW_RELIC_API_KEY HONEYCOMB_API_KEY ROLLBAR_ACCESS_TOKEN "
    "PAGERDUTY_TOKEN OKTA_API_TOKEN AUTH0_CLIENT_SECRET ALGOLIA_ADMIN_KEY SHOPIFY_API_SECRET JIRA_API_TOKEN "
    "ATLASSIAN_API_TOKEN LINEAR_API_KEY NOTION_TOKEN FIGMA_TOKEN OP_SERVICE_ACCOUNT_TOKEN BW_SESSION "
    "DOPPLER_TOKEN INFISICAL_TOKEN NGROK_AUTHTOKEN TAILSCALE_AUTHKEY "
    # application secrets, keys, agent sockets
    "SSH_PRIVATE_KEY GPG_PRIVATE_KEY GPG_PASSPHRASE SSH_AUTH_SOCK GPG_AGENT_INFO JWT_SECRET SESSION_SECRET "
    "SECRET_KEY_BASE DJANGO_SECRET_KEY FLASK_SECRET_KEY APP_KEY ENCRYPTION_KEY MASTER_KEY RAILS_MASTER_KEY "
    "NEXTAUTH_SECRET COOKIE_SECRET WEBHOOK_SECRET NETRC SIGNING_KEY"
)

#: Names (upper case) that are secrets whatever their value.
SECRET_EXACT: Final[frozenset[str]] = frozenset((_RUNBOOK_EXACT + " " + _HEAD_EXACT + " " + _MORE_EXACT).split())

#: Name suffixes (upper case). The runbook's 11 and HEAD's 10, plus more.
SECRET_SUFFIXES: Final[tuple[str, ...]] = (
    "_API_KEY",
    "_APIKEY",
    "_SECRET",
    "_SECRET_KEY",
    "_ACCESS_KEY",
    "_PRIVATE_KEY",
    "_KEY_ID",
    "_PASSWORD",
    "_PASSWD",
    "_PASS",
    "_PWD",
    "_PASSPHRASE",
    "_CREDENTIAL",
    "_CREDENTIALS",
    "_TOKEN",
    "_KEY",
    "_AUTH",
    "_DSN",
    "_DATABASE_URL",
    "_DB_URL",
    "_CONNECTION_STRING",
    "_CONN_STR",
    "_WEBHOOK_URL",
    "_SIGNING_KEY",
    "_CLIENT_SECRET",
    "_PAT",
    "_SESSION_TOKEN",
    "_REFRESH_TOKEN",
    "_ID_TOKEN",
    "_COOKIE",
    "_SALT",
    "_HMAC",
    "_AUTHTOKEN",
    "_AUTHKEY",
    "_SECRETS",
    "_REDIS_URL",
    "_MONGO_URL",
    "_MONGODB_URI",
    "_POSTGRES_URL",
    "_AMQP_URL",
    "_JWT",
    "_KEYFILE",
    "_KEY_FILE",
    "_SAS",
    "_LICENSE_KEY",
)

#: Name prefixes (upper case).
SECRET_PREFIXES: Final[tuple[str, ...]] = (
    "AWS_SECRET_",
    "AWS_SESSION_",
    "SECRET_",
    "AUTH_",
    "CREDENTIAL_",
    "CREDENTIALS_",
    "PASSWORD_",
    "TOKEN_",
    "PRIVATE_KEY_",
    "TF_TOKEN_",
    "POETRY_PYPI_TOKEN_",
    "POETRY_HTTP_BASIC_",
    "OP_SESSION_",
    "VAULT_TOKEN_",
    "NPM_CONFIG__AUTH",
    "NPM_CONFIG_//",
)

#: Any underscore-separated part of a name equal to one of these makes it a secret (``MY_SECRET_VALUE``).
SECRET_SEGMENTS: Final[frozenset[str]] = frozenset(
    {"SECRET", "SECRETS", "PASSWORD", "PASSWD", "TOKEN", "APIKEY", "PRIVATEKEY", "CREDENTIALS", "CREDENTIAL"}
)

#: Names that are never secrets even though a rule would match (``KEY`` alone, terminal keys...).
NOT_SECRET: Final[frozenset[str]] = frozenset(
    {"PWD", "OLDPWD", "KEYMAP", "XKB_DEFAULT_KEY", "GPG_TTY", "HISTCONTROL", "TOKENIZERS_PARALLELISM"}
)

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
)

_TOKENISH = re.compile(r"^[A-Za-z0-9+/=_\-.~]{24,}$")


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
    if (
        _TOKENISH.match(stripped)
        and any(c.isupper() for c in stripped)
        and any(c.islower() for c in stripped)
        and any(c.isdigit() for c in stripped)
        and shannon_entropy(stripped) >= 4.2
    ):
        return "value_high_entropy"
    return None


def name_rule(
    name: str,
    *,
    extra_names: frozenset[str] = frozenset(),
    extra_suffixes: tuple[str, ...] = (),
    extra_prefixes: tuple[str, ...] = (),
) -> str | None:
    """The name rule ``name`` matches (``exact``, ``suffix:_TOKEN``, ``prefix:AWS_SECRET_``...), if any."""
    upper = name.upper()
    if upper in NOT_SECRET:
        return None
    if upper in SECRET_EXACT or upper in extra_names:
        return "exact"
    for suffix in (*SECRET_SUFFIXES, *extra_suffixes):
        if upper.endswith(suffix) and upper != suffix.lstrip("_"):
            return f"suffix:{suffix}"
    for prefix in (*SECRET_PREFIXES, *extra_prefixes):
        if upper.startswith(prefix):
            return f"prefix:{prefix}"
    if any(part in SECRET_SEGMENTS for part in upper.split("_")):
        return "segment"
    return None


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
