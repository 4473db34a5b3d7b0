"""The secret broker: name and value rules, the child environment, exact redaction of every spelling."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.mediation.secret_broker import SecretBroker, encoded_forms, value_fingerprint
from pi_sandbox.mediation.secret_names import SECRET_EXACT, SECRET_PREFIXES, SECRET_SUFFIXES
from pi_sandbox.mediation.secret_rules import is_injection_var, value_rule

SECRET_NAMES = """
ANTHROPIC_API_KEY OPENAI_API_KEY GOOGLE_API_KEY AZURE_OPENAI_API_KEY COHERE_API_KEY GROQ_API_KEY DEEPINFRA_API_KEY
CEREBRAS_API_KEY OPENROUTER_API_KEY MISTRAL_API_KEY MOONSHOT_API_KEY DASHSCOPE_API_KEY DEEPSEEK_API_KEY
FIREWORKS_API_KEY TOGETHER_API_KEY PERPLEXITY_API_KEY XAI_API_KEY DATABASE_URL REDIS_URL MONGODB_URI PRIVATE_KEY
CARGO_REGISTRY_TOKEN NPM_TOKEN GH_TOKEN GITHUB_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
AZURE_CLIENT_SECRET DOCKER_PASSWORD SLACK_TOKEN STRIPE_SECRET_KEY TWILIO_AUTH_TOKEN SENDGRID_API_KEY
PGPASSWORD MYSQL_PWD ORDERS_DATABASE_URL SENTRY_DSN KUBECONFIG GOOGLE_APPLICATION_CREDENTIALS CI_JOB_TOKEN
ACTIONS_ID_TOKEN_REQUEST_TOKEN ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_RUNTIME_TOKEN CI_JOB_JWT_V2 CI_REGISTRY_PASSWORD
GITLAB_TOKEN GL_TOKEN BITBUCKET_APP_PASSWORD CIRCLE_TOKEN TRAVIS_TOKEN BUILDKITE_AGENT_TOKEN SYSTEM_ACCESSTOKEN
CODECOV_TOKEN SONAR_TOKEN SNYK_TOKEN VAULT_TOKEN CONSUL_HTTP_TOKEN NOMAD_TOKEN PULUMI_ACCESS_TOKEN TF_API_TOKEN
TF_TOKEN_app_terraform_io DIGITALOCEAN_ACCESS_TOKEN HCLOUD_TOKEN LINODE_TOKEN CLOUDFLARE_API_TOKEN CF_API_KEY
HEROKU_API_KEY VERCEL_TOKEN NETLIFY_AUTH_TOKEN FLY_API_TOKEN RAILWAY_TOKEN SUPABASE_SERVICE_ROLE_KEY FIREBASE_TOKEN
ARM_CLIENT_SECRET ARM_ACCESS_KEY AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_KEY GCLOUD_SERVICE_KEY
CLOUDSDK_AUTH_ACCESS_TOKEN MONGO_URL POSTGRES_PASSWORD POSTGRES_URL MYSQL_ROOT_PASSWORD REDIS_PASSWORD REDISCLI_AUTH
AMQP_URL RABBITMQ_URL ELASTIC_PASSWORD NEO4J_AUTH SNOWFLAKE_PASSWORD DATABRICKS_TOKEN TURSO_AUTH_TOKEN
NPM_AUTH_TOKEN NODE_AUTH_TOKEN YARN_NPM_AUTH_TOKEN PYPI_TOKEN PYPI_API_TOKEN TWINE_PASSWORD UV_PUBLISH_TOKEN
POETRY_PYPI_TOKEN_PYPI POETRY_HTTP_BASIC_PRIVATE_PASSWORD GEM_HOST_API_KEY NUGET_API_KEY HEX_API_KEY COMPOSER_AUTH
GRADLE_PUBLISH_KEY OSSRH_PASSWORD DOCKERHUB_TOKEN DOCKER_AUTH_CONFIG HOMEBREW_GITHUB_API_TOKEN JFROG_ACCESS_TOKEN
GEMINI_API_KEY HF_TOKEN HUGGING_FACE_HUB_TOKEN REPLICATE_API_TOKEN VOYAGE_API_KEY PINECONE_API_KEY
LANGCHAIN_API_KEY LANGSMITH_API_KEY WANDB_API_KEY AZURE_OPENAI_KEY ANTHROPIC_AUTH_TOKEN AWS_BEARER_TOKEN_BEDROCK
SENTRY_AUTH_TOKEN SLACK_BOT_TOKEN SLACK_WEBHOOK_URL DISCORD_WEBHOOK_URL TELEGRAM_BOT_TOKEN STRIPE_WEBHOOK_SECRET
MAILGUN_API_KEY POSTMARK_SERVER_TOKEN DD_API_KEY DD_APP_KEY NEW_RELIC_LICENSE_KEY HONEYCOMB_API_KEY
ROLLBAR_ACCESS_TOKEN PAGERDUTY_TOKEN OKTA_API_TOKEN AUTH0_CLIENT_SECRET ALGOLIA_ADMIN_KEY JIRA_API_TOKEN
LINEAR_API_KEY NOTION_TOKEN FIGMA_TOKEN OP_SERVICE_ACCOUNT_TOKEN OP_SESSION_my BW_SESSION DOPPLER_TOKEN
NGROK_AUTHTOKEN TAILSCALE_AUTHKEY SSH_PRIVATE_KEY GPG_PASSPHRASE SSH_AUTH_SOCK JWT_SECRET SESSION_SECRET
SECRET_KEY_BASE DJANGO_SECRET_KEY APP_KEY ENCRYPTION_KEY RAILS_MASTER_KEY NEXTAUTH_SECRET COOKIE_SECRET
SMTP_PASS LDAP_BIND_PASSWORD MY_SERVICE_SECRETS SECRET_SAUCE AUTH_HEADER CREDENTIALS_JSON PAYMENTS_SIGNING_KEY
SERVICE_ACCOUNT_KEY_FILE INTERNAL_CLIENT_SECRET GITHUB_PAT KEYSTORE_PASSPHRASE API_REFRESH_TOKEN my_app_token
lowercase_api_key Mixed_Secret
WALLET_MNEMONIC MNEMONIC ADMIN_PW DB_PW AUTHORIZATION PROXY_AUTHORIZATION HTTP_AUTHORIZATION UPSTREAM_AUTHORIZATION
KEYSTORE_PASSPHRASE SSH_KEY_PASSPHRASE WALLET_SEED HD_WALLET_SEED VALIDATOR_SEED SEED_PHRASE RECOVERY_PHRASE
METAMASK_RECOVERY_PHRASE LEDGER_SEED_WORDS BTC_WIF LND_ADMIN_MACAROON COOKIE COOKIES LOGIN_COOKIE SCRAPER_COOKIES
SESSION_ID SESSIONID PORTAL_SESSION_ID SESSION_TOKEN APP_SESSION_KEY TOTP_SECRET OTP_SECRET GITHUB_RECOVERY_CODES
walletMnemonic adminPw dbPassphrase deployerPrivateKey API_BEARER VPN_PASSCODE PASSWORD PASSWD ETH_PRIVATE_KEY
""".split()

ORDINARY_NAMES = """
PATH HOME USER LOGNAME SHELL TERM LANG LANGUAGE LC_ALL LC_CTYPE TZ PWD OLDPWD HOSTNAME MAIL TMPDIR TMP TEMP EDITOR
VISUAL PAGER LESS COLUMNS LINES DISPLAY XDG_RUNTIME_DIR XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME XDG_SESSION_TYPE
SHLVL COLORTERM TERM_PROGRAM TERM_PROGRAM_VERSION NODE_ENV NODE_VERSION NVM_DIR npm_config_cache PYTHONUNBUFFERED
PYTHONDONTWRITEBYTECODE VIRTUAL_ENV CONDA_DEFAULT_ENV CONDA_PREFIX PIPENV_ACTIVE JAVA_HOME GOPATH GOROOT GOFLAGS
CARGO_HOME RUSTUP_HOME RUST_LOG RUST_BACKTRACE CI GITHUB_ACTIONS GITHUB_SHA GITHUB_REF GITHUB_REPOSITORY
GITHUB_WORKSPACE GITHUB_RUN_ID GITHUB_EVENT_NAME RUNNER_OS RUNNER_TEMP GITLAB_CI CI_COMMIT_SHA CI_PIPELINE_ID
CI_PROJECT_DIR BUILDKITE_BRANCH CIRCLE_BRANCH TRAVIS_BRANCH AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE
GOOGLE_CLOUD_PROJECT CLOUDSDK_CORE_PROJECT AZURE_LOCATION KUBE_NAMESPACE DOCKER_HOST DOCKER_BUILDKIT
COMPOSE_PROJECT_NAME DEBUG LOG_LEVEL PORT HOST BIND_ADDRESS APP_ENV RAILS_ENV FLASK_APP DJANGO_SETTINGS_MODULE
TOKENIZERS_PARALLELISM OMP_NUM_THREADS CUDA_VISIBLE_DEVICES HF_HOME TRANSFORMERS_CACHE HISTSIZE HISTCONTROL
HISTFILE MANPATH INFOPATH SSH_TTY SSH_CONNECTION GPG_TTY KEYMAP LS_COLORS MAKEFLAGS CC CXX CFLAGS LDFLAGS
PKG_CONFIG_PATH HOMEBREW_PREFIX HOMEBREW_CELLAR PI_EXTENSION_POLICY PI_CODING_AGENT_DIR NO_COLOR FORCE_COLOR
AUTHOR_NAME MAX_TOKENS OPENAI_MAX_TOKENS PASSWORDLESS_LOGIN KEYBOARD_LAYOUT MONKEY_PATCH SECRETARY_EMAIL
RANDOM_SEED TEST_SEED GLOBAL_SEED NUMPY_SEED TORCH_SEED FAKER_SEED HYPOTHESIS_SEED DB_SEED SEED PYTHONHASHSEED
XDG_SESSION_ID XDG_SESSION_CLASS DESKTOP_SESSION DBUS_SESSION_BUS_ADDRESS SESSION_MANAGER COOKIE_DOMAIN COOKIE_SECURE
SESSION_COOKIE_NAME PWDEBUG PW_TEST_HTML_REPORT_OPEN REQUIRE_2FA ENABLE_TOTP OTP_DIGITS AUTHORIZED_KEYS_FILE
AUTHOR_EMAIL maxTokens keyboardLayout SEEDS_DIR SEED_DATA_PATH PASSENGER_APP_ENV COMPASS_PATH MAPBOX_STYLE
""".split()


def broker(environ: dict[str, str] | None = None, **settings: object) -> SecretBroker:
    return SecretBroker(SecretBrokerSettings(**settings), environ or {})  # type: ignore[arg-type]


def test_name_lists_are_large_and_distinct() -> None:
    assert len(set(SECRET_NAMES)) >= 150 and len(set(ORDINARY_NAMES)) >= 100
    assert not set(SECRET_NAMES) & set(ORDINARY_NAMES)
    # the runbook's 26/11/2 and the reference HEAD's 16/10/3 are all included
    assert {"AWS_ACCESS_KEY_ID", "MONGODB_URI", "TWILIO_AUTH_TOKEN"} <= SECRET_EXACT
    assert {"_KEY_ID", "_PASSWD", "_AUTH", "_KEY"} <= set(SECRET_SUFFIXES)
    assert {"AWS_SECRET_", "AWS_SESSION_", "SECRET_", "AUTH_", "CREDENTIAL_"} <= set(SECRET_PREFIXES)


def test_at_least_99_percent_of_secret_names_withheld_and_no_ordinary_name() -> None:
    b = broker()
    withheld = [n for n in SECRET_NAMES if b.is_secret(n).withheld]
    assert len(withheld) / len(SECRET_NAMES) >= 0.99, sorted(set(SECRET_NAMES) - set(withheld))
    assert [n for n in ORDINARY_NAMES if b.is_secret(n).withheld] == []


def test_decision_carries_name_hash_and_rule() -> None:
    d = broker().is_secret("PGPASSWORD")
    assert (d.verdict, d.rule, d.name_hash) == ("redacted", "exact", sha256_hex("PGPASSWORD"))
    assert broker().is_secret("BILLING_API_KEY").rule == "suffix:_API_KEY"
    assert broker().is_secret("AWS_SECRET_THING").rule == "prefix:AWS_SECRET_"
    assert broker().is_secret("PI_SECURITY_DIR").verdict == "denied"
    assert set(d.record_payload()) == {"name_hash", "verdict", "rule"}


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("sk-ant-api03-" + "a1B2" * 10, "value_openai_anthropic_key"),
        ("ghp_" + "A1b2C3d4E5" * 4, "value_github_token"),
        ("AKIAIOSFODNN7EXAMPLE", "value_aws_access_key"),
        ("xoxb-1234567890-abcdefghij", "value_slack_token"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "value_jwt"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...", "value_pem_private_key"),
        ("postgres://app:hunter2pass@db.internal:5432/app", "value_url_with_password"),
        ("Xk9fQ2mZ7pL4vR8tW1yB6nH3cJ5gD0sA", "value_high_entropy"),
    ],
)
def test_value_rules_catch_secrets_under_innocent_names(value: str, rule: str) -> None:
    assert value_rule(value) == rule
    b = broker({"INNOCENT": value})
    assert b.is_secret("INNOCENT").verdict == "redacted" and b.read("INNOCENT") == "[REDACTED]"


@pytest.mark.parametrize(
    "value",
    [
        "/usr/local/bin:/usr/bin:/bin",
        "en_US.UTF-8",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "123e4567-e89b-12d3-a456-426614174000",
        "production",
        "https://example.com/path?q=1",
        "xterm-256color",
        "rs=0:di=01;34:ln=01;36:mh=00:pi=40;33",
    ],
)
def test_ordinary_values_are_not_secrets(value: str) -> None:
    assert value_rule(value) is None


def test_read_list_allowlist_extras_and_disabled() -> None:
    env = {"OPENAI_API_KEY": "sk-" + "x1Y2" * 8, "HOME": "/home/u", "TEAM_ID": "42", "ACME_THING": "hidden-value"}
    b = broker(env)
    assert b.read("HOME") == "/home/u" and b.read("OPENAI_API_KEY") == "[REDACTED]" and b.read("NOPE") is None
    assert b.visible_names() == ["ACME_THING", "HOME", "TEAM_ID"]
    b2 = broker(
        env, disclosure_allowlist=("openai_api_key",), extra_prefixes=("ACME_",), redaction_placeholder="<hidden>"
    )
    assert (
        b2.read("OPENAI_API_KEY") == env["OPENAI_API_KEY"]
        and b2.is_secret("OPENAI_API_KEY").rule == "disclosure_allowlist"
    )
    assert b2.read("ACME_THING") == "<hidden>" and b2.redact("x hidden-value y") == "x <hidden> y"
    assert broker(env, extra_names=("team_id",)).is_secret("TEAM_ID").rule == "exact"
    assert broker(env, extra_suffixes=("_ID",)).is_secret("TEAM_ID").rule == "suffix:_ID"
    off = broker(env, enabled=False)
    assert (
        off.read("OPENAI_API_KEY") == env["OPENAI_API_KEY"]
        and off.redact(env["OPENAI_API_KEY"]) == env["OPENAI_API_KEY"]
    )


def test_child_environment_is_minimal_and_never_carries_secrets_or_injection_vars() -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "GITHUB_TOKEN": "ghp_" + "z" * 36,
        "LD_PRELOAD": "/evil.so",
        "NODE_OPTIONS": "--require /evil.js",
        "RANDOM_PARENT_VAR": "x",
    }
    b = broker(parent)
    extra = {
        "LD_PRELOAD": "/tmp/x.so",
        "DYLD_INSERT_LIBRARIES": "/x",
        "NODE_OPTIONS": "-r x",
        "PYTHONPATH": "/x",
        "BASH_ENV": "/x",
        "ENV": "/x",
        "PROMPT_COMMAND": "id",
        "PERL5OPT": "-Mx",
        "RUBYOPT": "-rx",
        "GIT_SSH_COMMAND": "sh",
        "GIT_CONFIG_GLOBAL": "/x",
        "BASH_FUNC_ls%%": "() { id; }",
        "PATH": "/evil",
        "HOME": "/evil",
        "MY_FLAG": "1",
        "GIT_AUTHOR_NAME": "bot",
        "LEAK": "token " + parent["GITHUB_TOKEN"],
    }
    env = b.child_environment(extra)
    assert env == {"PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "MY_FLAG": "1", "GIT_AUTHOR_NAME": "bot"}
    assert "LEAK" in SecretBroker.rejected_extras(extra, env) and "MY_FLAG" not in SecretBroker.rejected_extras(
        extra, env
    )
    for name in ("LD_AUDIT", "DYLD_LIBRARY_PATH", "PYTHONSTARTUP", "GIT_EXEC_PATH", "NODE_OPTIONS"):
        assert is_injection_var(name)
    assert not is_injection_var("GIT_AUTHOR_EMAIL") and not is_injection_var("MY_FLAG")


SECRET = "s3cr3t-Value/With+Chars=42&more"


def spellings(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(b"x" + raw).decode(),
        base64.b64encode(b"xy" + raw).decode(),
        raw.hex(),
        raw.hex().upper(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
    ]


@pytest.mark.parametrize("index", range(10))
def test_redaction_removes_every_spelling_in_text_and_bytes(index: int) -> None:
    b = broker({"DEPLOY_TOKEN": SECRET, "HOME": "/home/u"})
    form = spellings(SECRET)[index]
    text = f"line one\nvalue={form}; trailing /home/u\n"
    out = b.redact(text)
    assert "[REDACTED]" in out and "/home/u" in out
    assert SECRET not in out and form not in out
    # what survives of an encoded form is at most the few characters straddling its edges
    assert len(out) <= len(text) - len(form) + len("[REDACTED]") + 6
    assert SECRET.encode() not in b.redact(text.encode()) and form.encode() not in b.redact(text.encode())
    assert b.find_secret(text) and b.find_secret(text.encode())
    assert b.secret_fingerprint(text) == value_fingerprint(SECRET)


def test_redact_value_walks_nested_structures_keys_included() -> None:
    b = broker({"DEPLOY_TOKEN": SECRET})
    value = {"a": [SECRET, {"k": "x" + SECRET}], SECRET: 1, "n": 5, "b": SECRET.encode()}
    out = b.redact_value(value)
    assert SECRET not in json.dumps(out, default=str)
    assert out["n"] == 5 and out["a"][0] == "[REDACTED]" and out["[REDACTED]"] == 1


def test_text_with_a_lone_surrogate_is_still_searched_and_redacted() -> None:
    # JSON from an extension may carry "\ud800" (JS strings need not be valid UTF-16): the search library
    # refuses such text, which made a log line with one fail as an internal error (or skip the search).
    b = broker({"DEPLOY_TOKEN": SECRET, "ODD_TOKEN": "odd\udcff-value-1234"})
    text = f"\ud800 before {SECRET} after \udfff"
    assert b.redact(text) == "\ud800 before [REDACTED] after \udfff"
    assert b.find_secret(text) and b.secret_fingerprint(text) == value_fingerprint(SECRET)
    assert b.redact_value({"msg": [text], text: 1}) == {"msg": ["\ud800 before [REDACTED] after \udfff"],
                                                        "\ud800 before [REDACTED] after \udfff": 1}
    assert not b.find_secret("\ud800 nothing here") and b.redact("\ud800 plain") == "\ud800 plain"
    # a withheld value that itself holds a lone surrogate (an undecodable environment byte) is found too
    assert b.redact("x\ud800 odd\udcff-value-1234") == "x\ud800 [REDACTED]"
    assert b.find_secret("odd\udcff-value-1234")
    # ... and in a child's output, where the undecodable byte is itself (surrogateescape)
    assert b.redact(b"out: odd\xff-value-1234\n") == b"out: [REDACTED]\n"
    assert b.find_secret(b"odd\xff-value-1234") and not b.find_secret(b"odd-value-1234")
    assert b.redact("\udcc3\udca9 kept as is") == "\udcc3\udca9 kept as is"  # no other change to the text


def test_short_values_are_not_redacted_and_empty_broker_is_identity() -> None:
    b = broker({"SOME_TOKEN": "abc"})
    assert b.is_secret("SOME_TOKEN").withheld and b.redact("abcabc") == "abcabc"
    assert broker({}).redact("anything") == "anything"
    assert all(len(f) >= 8 or f == SECRET for f in encoded_forms(SECRET))


def _walk(b: SecretBroker, value: object) -> object:
    """The string-by-string walk that ``redact_value`` short-cuts (reference for the property below)."""
    if isinstance(value, str):
        return b.redact(value)
    if isinstance(value, dict):
        return {_walk(b, k): _walk(b, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(b, v) for v in value]
    return value


#: Secrets whose raw spelling JSON has to escape (quotes, backslashes, control and non-ASCII characters).
AWKWARD_SECRETS = ['pa"ss\\word-1234', "tab\there\nnewline-99", "ünïcødé-sécret-42", "ctl\x01\x1f\x7f-secret"]


@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(allow_nan=False),
              st.text(max_size=12), st.sampled_from([SECRET, *AWKWARD_SECRETS]),
              st.builds(lambda a, s, z: a + s + z, st.text(max_size=4), st.sampled_from(AWKWARD_SECRETS),
                        st.text(max_size=4))),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(AWKWARD_SECRETS)), inner,
                                            max_size=4)),
    max_leaves=12))
@settings(max_examples=300, deadline=None)
def test_redact_value_finds_every_secret_its_one_json_search_may_skip(value: object) -> None:
    """A value returned untouched (the one search over its JSON found nothing) holds no secret in any string."""
    b = broker({"DEPLOY_TOKEN": SECRET, **{f"AWKWARD_{i}_TOKEN": s for i, s in enumerate(AWKWARD_SECRETS)}})
    assert b.redact_value(value) == _walk(b, value)
