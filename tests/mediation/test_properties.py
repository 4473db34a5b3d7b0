"""Property tests: the parser and classifier never crash; redaction never lets a withheld value through."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.config.model import ExecMediationSettings, SecretBrokerSettings
from pi_sandbox.mediation.exec_mediation import ExecMediator
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.mediation.shell_parse import parse_script

SHELLISH = st.text(alphabet=st.sampled_from(list("abrmf -/$(){}[];|&<>'\"`\\\n*?~=,#!:IFS0123")), max_size=80)
MEDIATOR = ExecMediator(ExecMediationSettings(), "safe")


@settings(max_examples=300, deadline=None)
@given(SHELLISH)
def test_parser_and_classifier_never_raise(text: str) -> None:
    script = parse_script(text)
    list(script.walk())
    decision = MEDIATOR.evaluate("sh", ["-c", text], cached=False)
    assert decision.decision in ("allow", "allow_with_audit", "deny")
    if script.all_errors():
        assert decision.denied  # unparseable is high: denied under safe


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=6, max_size=40),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_redaction_never_leaks_raw_or_base64(secret: str, before: str, after: str) -> None:
    broker = SecretBroker(SecretBrokerSettings(redaction_placeholder="\x00"), {"SOME_TOKEN": secret})
    for text in (before + secret + after, before + base64.b64encode(secret.encode()).decode() + after):
        out = broker.redact(text)
        assert secret not in out
        assert broker.redact(text.encode()).find(secret.encode()) < 0
    assert broker.find_secret(before + secret + after)
