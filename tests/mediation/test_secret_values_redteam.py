"""Red team (secret broker): credentials under names no rule knew, in shapes the value rules did not know.

Each was read in full through ``process.env`` (and so could go anywhere the extension may send): a connection
string's ``Password=`` field, a JDBC URL's ``?password=``, an Azure ``AccountKey=``, a signed URL's signature,
Slack / Discord / Teams webhook URLs (the URL is the credential), a bot token inside a URL path, and the bare
names whose suffix rules only matched with a prefix (``CONNECTION_STRING``, ``WEBHOOK_URL``, ``DSN``, ``JWT``).
The rules are about the technique (a credential field, a webhook, a random token anywhere in the value, a
suffix standing alone), with ordinary values that must stay readable beside them.
"""

from __future__ import annotations

import pytest

from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.mediation.secret_names import BARE_NOT_SECRET, SECRET_SUFFIXES, name_rule
from pi_sandbox.mediation.secret_rules import value_rule

SECRET_VALUES = {
    "Server=db;User Id=sa;Password=Pa55word!xyz;": "value_credential_field",
    "Host=db;Username=app;PWD=hunter2hunter2": "value_credential_field",
    "jdbc:postgresql://db/app?user=app&password=s3cretpass": "value_credential_field",
    "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc123abc123abc123==": "value_credential_field",
    "Endpoint=sb://x.example.net/;SharedAccessKeyName=k;SharedAccessKey=Zm9vYmFyYmF6": "value_credential_field",
    "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Signature=abcdef0123456789": "value_credential_field",
    "https://gitlab.example.com/api/v4/projects?private_token=glxyzabc123": "value_credential_field",
    "https://api.example.com/v1?api_key=abcd1234": "value_credential_field",
    "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX": "value_webhook_url",
    "https://discord.com/api/webhooks/123/abcdefghijklmnop": "value_webhook_url",
    "https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456": "value_webhook_url",
    "https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage": "value_embedded_token",
    "https://example.com/hook/9fK2mZ7pL4vR8tW1yB6nH3cJ5gD0sAqq": "value_embedded_token",
    "user,Xk9fQ2mZ7pL4vR8tW1yB6nH3cJ5gD0sA,prod": "value_embedded_token",
}

ORDINARY_VALUES = [
    "/usr/local/bin:/usr/bin:/bin", "https://example.com/path?q=1", "rs=0:di=01;34:ln=01;36:mh=00:pi=40;33",
    "https://github.com/OpenAI/Whisper/blob/v2/README.md", "unix:path=/run/user/1000/bus", "--max-old-space-size=4096",
    "w0t0p0:8F5E2A1C-1234-4ABC-9DEF-0123456789AB", "/home/u/.nvm/versions/node/v20.11.0/bin", "en_US.UTF-8",
    "A035C8C19219BA821ECEA86B64E628F8D684696D", "Some-Long-Project-Name-2024-Final", "mode=dev;debug=true",
    "--token-file=/run/secrets/tok", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "xterm-256color",
]


@pytest.mark.parametrize(("value", "rule"), sorted(SECRET_VALUES.items()))
def test_credentials_inside_values_are_withheld(value: str, rule: str) -> None:
    assert value_rule(value) == rule
    broker = SecretBroker(SecretBrokerSettings(), {"APP_SETTING": value})
    assert broker.read("APP_SETTING") == "[REDACTED]" and broker.visible_names() == []
    assert broker.child_environment({"X": value}).get("X") is None  # never handed to a child either
    assert broker.find_secret(f"body={value}")  # and refused on the way out


@pytest.mark.parametrize("value", ORDINARY_VALUES)
def test_ordinary_values_stay_readable(value: str) -> None:
    assert value_rule(value) is None


@pytest.mark.parametrize("suffix", [s for s in SECRET_SUFFIXES if s.lstrip("_") not in BARE_NOT_SECRET])
def test_a_secret_suffix_standing_alone_is_a_secret_name(suffix: str) -> None:
    bare = suffix.lstrip("_")
    assert name_rule(bare) is not None, bare  # its own suffix rule, or an exact name or another rule


@pytest.mark.parametrize("name", sorted(BARE_NOT_SECRET))
def test_words_that_mean_nothing_alone_stay_readable(name: str) -> None:
    assert name_rule(name) is None


def test_asking_about_unknown_names_keeps_nothing() -> None:
    """Red team (host bounds): every name an extension asked about was remembered with its decision (names of
    any length): ``process.env[<200 KB name> + n]`` in a loop grew the supervisor ~6 MB a second, for good."""
    import tracemalloc

    broker = SecretBroker(SecretBrokerSettings(), {"HOME": "/home/u", "GITHUB_TOKEN": "ghp_" + "A1b2C3d4E5" * 4})
    base = "N" * 50_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(500):
            name = f"{base}{n}"
            assert broker.read(name) is None and not broker.is_secret(name).withheld
            assert broker.is_secret(f"{name}_TOKEN").withheld  # still decided by its rules, every time
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2 * 1024 * 1024, kept  # before: 500 names x 2 x 50 KB = ~50 MB kept
    assert broker.read("HOME") == "/home/u" and broker.read("GITHUB_TOKEN") == "[REDACTED]"
