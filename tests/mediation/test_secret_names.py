"""The secret-name rule table: every rule withholds its example, and docs/mediation.md publishes the table.

The realistic corpora (217 secret names, 154 ordinary ones) are in ``test_secret_broker.py``; here each
rule is checked on its own, so a rule that a broader one shadows (dead) or that stops matching fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.mediation.secret_names import NAME_RULES, RNG_SEED_PARTS, name_rule, name_rule_table_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mediation.md"


@pytest.mark.parametrize("rule", NAME_RULES, ids=[r.rule for r in NAME_RULES])
def test_every_name_rule_withholds_its_example(rule: object) -> None:
    assert name_rule(rule.example) == rule.rule  # type: ignore[attr-defined]


def test_rule_ids_are_unique() -> None:
    assert len({r.rule for r in NAME_RULES}) == len(NAME_RULES)


# Plain values: words, short numbers, a header value — nothing a value rule (token shapes, entropy)
# would catch, so only the name can withhold them.
PLAIN = {
    "WALLET_MNEMONIC": "abandon ability able about above absent absorb abstract absurd abuse access accident",
    "ADMIN_PW": "hunter22",
    "AUTHORIZATION": "Basic YWRtaW46aHVudGVyMg==",
    "GPG_KEY_PASSPHRASE": "correct horse battery staple",
    "VALIDATOR_SEED": "0123456789abcdef0123456789abcdef",
    "PORTAL_SESSION_ID": "s%3Aabc.def",
    "LOGIN_COOKIE": "remember_me=1; uid=42",
    "SESSION_TOKEN": "tok-abc",
    "walletMnemonic": "legal winner thank year wave sausage worth useful legal winner thank yellow",
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_secret_names_with_plain_values_are_withheld_and_redacted(name: str) -> None:
    broker = SecretBroker(SecretBrokerSettings(), {name: PLAIN[name], "HOME": "/home/u"})
    decision = broker.is_secret(name)
    assert decision.withheld and not decision.rule.startswith("value_")
    assert broker.read(name) == "[REDACTED]" and broker.read("HOME") == "/home/u"
    assert name not in broker.visible_names()
    assert PLAIN[name] not in broker.redact(f"echo {PLAIN[name]}")
    assert name not in broker.child_environment()


def test_rng_seeds_are_not_wallet_seeds() -> None:
    for part in sorted(RNG_SEED_PARTS):
        assert name_rule(f"{part}_SEED") is None, part
    assert name_rule("HD_WALLET_SEED") == "suffix:_SEED"
    assert name_rule("RANDOM_WALLET_MNEMONIC") == "substring:MNEMONIC"  # only *_SEED is exempted


def test_docs_publish_the_rule_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = "<!-- secret-name-rules:start -->\n", "\n<!-- secret-name-rules:end -->"
    assert start in text and end in text, "docs/mediation.md lacks the generated rule table markers"
    published = text.split(start, 1)[1].split(end, 1)[0]
    assert published == name_rule_table_markdown(), "regenerate the table with name_rule_table_markdown()"
