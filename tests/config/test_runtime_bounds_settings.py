"""Settings of issue 9's host bounds: per-method hostcall deadlines, fs / session / evidence caps, http timeouts."""

from __future__ import annotations

import pytest

from pi_sandbox.capabilities import KNOWN_METHODS
from pi_sandbox.config.model import DEFAULT_HOSTCALL_DEADLINES_MS, RuntimeSettings
from pi_sandbox.errors import ConfigError
from tests.conftest import MakeConfig


def test_every_hostcall_method_has_a_documented_default_deadline() -> None:
    assert set(DEFAULT_HOSTCALL_DEADLINES_MS) == set(KNOWN_METHODS)
    assert RuntimeSettings().deadline_ms("fs") == 10_000
    assert RuntimeSettings().deadline_ms("no-such-method") == max(DEFAULT_HOSTCALL_DEADLINES_MS.values())


def test_deadlines_and_caps_are_read_from_settings(make_config: MakeConfig) -> None:
    config = make_config(settings={
        "extensionRuntime": {"hostcallDeadlineMs": {"fs": 500, "http": 90_000}, "maxFsIoBytes": 4096,
                             "sessionMaxEntries": 7, "sessionMaxBytes": 999, "maxAlertsPerMinute": 3,
                             "maxRecordsPerMinute": 4},
        "extensionPolicy": {"http": {"connectTimeoutMs": 100, "readTimeoutMs": 200, "maxRedirects": 1}}})
    runtime = config.runtime
    assert (runtime.deadline_ms("fs"), runtime.deadline_ms("http"), runtime.deadline_ms("log")) == (500, 90_000, 2_000)
    assert (runtime.max_fs_io_bytes, runtime.session_max_entries, runtime.session_max_bytes) == (4096, 7, 999)
    assert (runtime.max_alerts_per_minute, runtime.max_records_per_minute) == (3, 4)
    assert (config.http.connect_timeout_ms, config.http.read_timeout_ms, config.http.max_redirects) == (100, 200, 1)


@pytest.mark.parametrize(("value", "key"), [
    ({"fsx": 10}, "extensionRuntime.hostcallDeadlineMs.fsx"),
    ({"fs": 0}, "extensionRuntime.hostcallDeadlineMs.fs"),
    ({"fs": "10"}, "extensionRuntime.hostcallDeadlineMs.fs"),
    ([10], "extensionRuntime.hostcallDeadlineMs"),
])
def test_bad_deadlines_are_errors_naming_the_key(make_config: MakeConfig, value: object, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(settings={"extensionRuntime": {"hostcallDeadlineMs": value}})
    assert key in str(caught.value)


def test_a_project_may_shorten_deadlines_but_never_lengthen_one(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionRuntime": {"hostcallDeadlineMs": {"fs": 3000}}},
                         project_settings={"extensionRuntime": {
                             "hostcallDeadlineMs": {"fs": 9000, "http": 1000, "net": 50},
                             "sessionMaxEntries": 10_000}})
    runtime = config.runtime
    assert (runtime.deadline_ms("fs"), runtime.deadline_ms("http"), runtime.deadline_ms("net")) == (3000, 1000, 50)
    assert runtime.session_max_entries == 1000  # a larger cap from a project is refused
    assert "extensionRuntime.hostcall_deadline_ms" in config.refused_loosenings
