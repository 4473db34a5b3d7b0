"""The env connector: reads through the broker, records every decision, alerts on exposure attempts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import ConnectorError
from pi_sandbox.hashing import sha256_hex
from tests.conftest import OpenSandbox, PiEnv

SECRET = "sk-proj-" + "Zx8Cv7Bn6Mm5Ll4Kk3Jj2Hh1Gg0"


class EnvCaller:
    """Env hostcalls through the whole pipeline (the mediation stage records, the connector answers)."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.n = 0

    def call(self, params: dict[str, object]) -> Any:
        self.n += 1
        result = self.box.hostcall("ext", {"call_id": f"c{self.n}", "method": "env", "params": params})
        if not result.ok:
            raise ConnectorError(result.message or "", code=result.error_code or "internal", reason=result.reason)
        return result.result


@pytest.fixture()
def env_ctx(open_sandbox: OpenSandbox, pi_env: PiEnv) -> tuple[EnvCaller, None, AuditStore]:
    box = open_sandbox(cli_profile="permissive", env={"OPENAI_API_KEY": SECRET, "EDITOR": "vim",
                                                      "PI_SECURITY_DIR": str(pi_env.state_dir),
                                                      "PI_EXTENSION_ALLOW_DANGEROUS": "1"})
    return EnvCaller(box), None, box.store


def test_ordinary_reads_pass_and_are_recorded(env_ctx: tuple[EnvCaller, None, AuditStore]) -> None:
    conn, ctx, store = env_ctx
    assert conn.call({"name": "EDITOR"}) == {"value": "vim"}
    assert conn.call({"name": "NOT_SET_ANYWHERE"}) == {"value": None}
    records = store.query_records(kind="secret_broker", extension_id="ext")
    assert [r.payload["name_hash"] for r in records] == [sha256_hex("EDITOR"), sha256_hex("NOT_SET_ANYWHERE")]
    assert all(r.payload["verdict"] == "allowed" for r in records)
    assert store.query_alerts(category="secret_exposure") == []


def test_secret_read_gets_placeholder_record_and_alert(
    env_ctx: tuple[EnvCaller, None, AuditStore],
) -> None:
    conn, ctx, store = env_ctx
    assert conn.call({"name": "OPENAI_API_KEY"}) == {"value": "[REDACTED]", "withheld": True}
    (record,) = store.query_records(kind="secret_broker")
    assert record.payload == {"name_hash": sha256_hex("OPENAI_API_KEY"), "verdict": "redacted", "rule": "exact"}
    (alert,) = store.query_alerts(category="secret_exposure")
    assert alert.extension_id == "ext" and alert.context_hash == sha256_hex("OPENAI_API_KEY")[:16]
    text = json.dumps([record.payload, alert.summary, alert.reason_codes, alert.remediation])
    assert SECRET not in text and "OPENAI_API_KEY" not in text


def test_unset_secret_name_is_recorded_without_alert(
    env_ctx: tuple[EnvCaller, None, AuditStore],
) -> None:
    conn, ctx, store = env_ctx
    assert conn.call({"name": "AWS_SECRET_ACCESS_KEY"}) == {"value": None, "withheld": True}
    assert store.query_records(kind="secret_broker")[0].payload["verdict"] == "redacted"
    assert store.query_alerts(category="secret_exposure") == []


def test_list_never_names_secrets_and_denied_names_have_no_value(
    env_ctx: tuple[EnvCaller, None, AuditStore],
) -> None:
    conn, ctx, store = env_ctx
    names = conn.call({"op": "list"})["names"]
    assert "EDITOR" in names and "OPENAI_API_KEY" not in names and "PI_SECURITY_DIR" not in names
    assert conn.call({"name": "PI_SECURITY_DIR"}) == {"withheld": True}
    assert conn.call({"names": ["EDITOR", "OPENAI_API_KEY"]}) == {
        "values": {"EDITOR": "vim", "OPENAI_API_KEY": "[REDACTED]"}
    }
    listed = store.query_records(kind="secret_broker")[0].payload
    assert listed["op"] == "list" and listed["withheld_count"] >= 2


@pytest.mark.parametrize(
    "params", [{}, {"name": ""}, {"name": 5}, {"op": "set", "name": "X"}, {"names": "EDITOR"}, {"names": ["A"] * 300}]
)
def test_bad_params(env_ctx: tuple[EnvCaller, None, AuditStore], params: dict[str, object]) -> None:
    conn, ctx, _ = env_ctx
    with pytest.raises(ConnectorError) as err:
        conn.call(params)
    assert err.value.code == "invalid_request"
