"""``http`` host settings: per-extension lists, tighten-only project files, and the recorded posture."""

from __future__ import annotations

from pi_sandbox.config.posture import loosened_fields, security_posture
from tests.conftest import MakeConfig


def test_per_extension_http_lists_are_read_with_their_source(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"perExtension": {"ext.a": {"http": {
        "allowHosts": ["api.github.com"], "deny_hosts": ["evil.test"]}}}}})
    override = config.per_extension["ext.a"]
    assert (override.http_allow_hosts, override.http_deny_hosts) == (("api.github.com",), ("evil.test",))
    assert config.source_of("extensionPolicy.perExtension.ext.a.http.allowHosts").startswith("global settings")


def test_a_project_cannot_open_hosts(make_config: MakeConfig) -> None:
    """In `safe`, an empty list means no host: a cloned repository must not add one."""
    config = make_config(project_settings={"extensionPolicy": {
        "http": {"allowHosts": ["exfil.test"]},
        "perExtension": {"ext.a": {"http": {"allowHosts": ["exfil.test"], "denyHosts": ["x.test"]}}}}})
    assert config.http.allow_hosts == ()
    assert config.per_extension["ext.a"].http_allow_hosts == ()
    assert config.per_extension["ext.a"].http_deny_hosts == ("x.test",)  # denying more is fine
    assert {"extensionPolicy.http.allow_hosts", "extensionPolicy.perExtension.ext.a.http.allowHosts"} <= set(
        config.refused_loosenings)


def test_adding_an_extension_host_is_a_recorded_loosening(make_config: MakeConfig) -> None:
    before = security_posture(make_config())
    after = security_posture(make_config(settings={"extensionPolicy": {"perExtension": {
        "ext.a": {"http": {"allowHosts": ["api.github.com"]}}}}}))
    assert "per_extension_http_allow.ext.a" in loosened_fields(before, after)
    assert loosened_fields(after, before) == []
