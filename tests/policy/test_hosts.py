"""The host decision itself (policy/hosts.py), for every mode, without any network traffic."""

from __future__ import annotations

import pytest

from pi_sandbox.policy.hosts import HostPolicy
from pi_sandbox.vocabulary import PolicyOutcome
from tests.conftest import MakeConfig

PUBLIC = ["93.184.216.34"]


def _policy(make_config: MakeConfig, policy: dict[str, object], ext: str = "ext.a") -> HostPolicy:
    return HostPolicy.for_extension(make_config(settings={"extensionPolicy": policy}), ext)


@pytest.mark.parametrize(("policy", "host", "addresses", "expected"), [
    ({}, "api.example.com", PUBLIC, "host_not_allowed"),                                  # safe: nothing listed
    ({"http": {"allowHosts": ["api.example.com"]}}, "API.Example.com.", PUBLIC, "host_allowed"),
    ({"http": {"allowHosts": ["*.example.com"]}}, "example.com", PUBLIC, "host_not_allowed"),
    ({"http": {"allowHosts": [".example.com"]}}, "example.com", PUBLIC, "host_allowed"),
    ({"http": {"allowHosts": ["*"]}}, "anything.test", PUBLIC, "host_allowed"),
    ({"http": {"allowHosts": ["*"]}}, "anything.test", ["::ffff:10.0.0.1"], "private_address"),
    ({"http": {"allowHosts": ["*", "10.0.0.0/8"]}}, "db.internal", ["10.0.0.1"], "host_allowed"),
    ({"http": {"allowHosts": ["10.0.0.0/8"]}}, "db.internal", ["10.0.0.1"], "host_not_allowed"),  # no name rule
    ({"http": {"allowHosts": ["db.internal"]}}, "db.internal", ["10.0.0.1"], "host_allowed"),  # explicit name
    ({"http": {"allowHosts": ["*"], "denyHosts": ["93.184.216.0/24"]}}, "x.test", PUBLIC, "host_denied"),
    ({"profile": "permissive"}, "anything.test", PUBLIC, "permissive"),
    ({"profile": "permissive"}, "anything.test", ["192.168.0.10"], "private_address"),
    ({"profile": "permissive", "http": {"allowHosts": ["a.test"]}}, "b.test", PUBLIC, "host_not_allowed"),
    ({"profile": "balanced"}, "b.test", PUBLIC, "host_prompt"),
    ({"perExtension": {"ext.a": {"mode": "prompt"}}}, "b.test", PUBLIC, "host_prompt"),
    ({"perExtension": {"ext.b": {"http": {"allowHosts": ["b.test"]}}}}, "b.test", PUBLIC, "host_not_allowed"),
])
def test_decisions(make_config: MakeConfig, policy: dict[str, object], host: str, addresses: list[str],
                   expected: str) -> None:
    assert _policy(make_config, policy).decide(host, addresses).reason == expected


def test_names_no_rule_can_allow_are_refused_before_resolution(make_config: MakeConfig) -> None:
    safe = _policy(make_config, {"http": {"allowHosts": ["10.0.0.0/8", "*.example.com"]}})
    early = safe.check_name("secret-1234.attacker.test")
    assert early is not None and early.decision is PolicyOutcome.DENY
    assert safe.check_name("x.example.com") is None  # allowed by name: resolve, then decide()
    assert safe.check_name("10.1.1.1") is None  # an address: decide() sees it directly
    prompt = _policy(make_config, {"profile": "balanced"}).check_name("new.test")
    assert prompt is not None and prompt.decision is PolicyOutcome.PROMPT
    assert _policy(make_config, {"profile": "permissive"}).check_name("new.test") is None


def test_remedy_names_the_extension_or_the_global_list(make_config: MakeConfig) -> None:
    config = make_config()
    assert "perExtension.ext.a.http.allowHosts" in HostPolicy.for_extension(config, "ext.a").remedy("h.test")
    assert '{"extensionPolicy": {"http": {"allowHosts": ["h.test"]}}}' in \
        HostPolicy.for_extension(config, None).remedy("h.test")
