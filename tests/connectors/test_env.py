"""The env connector: reads through the broker, records every decision, alerts on exposure attempts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.env import EnvConnector
from pi_sandbox.errors import ConnectorError
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.mediation.secret_broker import SecretBroker
from tests.conftest import MakeConfig, PiEnv

SECRET = "sk-proj-" + "Zx8Cv7Bn6Mm5Ll4Kk3Jj2Hh1Gg0"


@pytest.fixture()
def env_ctx(make_config: MakeConfig, pi_env: PiEnv) -> Iterator[tuple[EnvConnector, ConnectorContext, AuditStore]]:
    config = make_config(env={"OPENAI_API_KEY": SECRET, "EDITOR": "vim", "PI_SECURITY_DIR": str(pi_env.state_dir)})
    store = AuditStore.open(config.state_dir)
    ctx = ConnectorContext("ext", "c1", "env", Capability.ENV, (pi_env.workspace,), config, store)
    yield EnvConnector(SecretBroker(config.secret_broker, config.environ)), ctx, store
    store.close()


def test_ordinary_reads_pass_and_are_recorded(env_ctx: tuple[EnvConnector, ConnectorContext, AuditStore]) -> None:
    conn, ctx, store = env_ctx
    assert conn.call(ctx, {"name": "EDITOR"}) == {"value": "vim"}
    assert conn.call(ctx, {"name": "NOT_SET_ANYWHERE"}) == {"value": None}
    records = store.query_records(kind="secret_broker", extension_id="ext")
    assert [r.payload["name_hash"] for r in records] == [sha256_hex("EDITOR"), sha256_hex("NOT_SET_ANYWHERE")]
    assert all(r.payload["verdict"] == "allowed" for r in records)
    assert store.query_alerts(category="secret_exposure") == []


def test_secret_read_gets_placeholder_record_and_alert(
    env_ctx: tuple[EnvConnector, ConnectorContext, AuditStore],
) -> None:
    conn, ctx, store = env_ctx
    assert conn.call(ctx, {"name": "OPENAI_API_KEY"}) == {"value": "[REDACTED]", "withheld": True}
    (record,) = store.query_records(kind="secret_broker")
    assert record.payload == {"name_hash": sha256_hex("OPENAI_API_KEY"), "verdict": "redacted", "rule": "exact"}
    (alert,) = store.query_alerts(category="secret_exposure")
    assert alert.extension_id == "ext" and alert.context_hash == sha256_hex("OPENAI_API_KEY")[:16]
    text = json.dumps([record.payload, alert.summary, alert.reason_codes, alert.remediation])
    assert SECRET not in text and "OPENAI_API_KEY" not in text


def test_unset_secret_name_is_recorded_without_alert(
    env_ctx: tuple[EnvConnector, ConnectorContext, AuditStore],
) -> None:
    conn, ctx, store = env_ctx
    assert conn.call(ctx, {"name": "AWS_SECRET_ACCESS_KEY"}) == {"value": None, "withheld": True}
    assert store.query_records(kind="secret_broker")[0].payload["verdict"] == "redacted"
    assert store.query_alerts(category="secret_exposure") == []


def test_list_never_names_secrets_and_denied_names_have_no_value(
    env_ctx: tuple[EnvConnector, ConnectorContext, AuditStore],
) -> None:
    conn, ctx, store = env_ctx
    names = conn.call(ctx, {"op": "list"})["names"]
    assert "EDITOR" in names and "OPENAI_API_KEY" not in names and "PI_SECURITY_DIR" not in names
    assert conn.call(ctx, {"name": "PI_SECURITY_DIR"}) == {"withheld": True}
    assert conn.call(ctx, {"names": ["EDITOR", "OPENAI_API_KEY"]}) == {
        "values": {"EDITOR": "vim", "OPENAI_API_KEY": "[REDACTED]"}
    }
    listed = store.query_records(kind="secret_broker")[0].payload
    assert listed["op"] == "list" and listed["withheld_count"] >= 2


@pytest.mark.parametrize(
    "params", [{}, {"name": ""}, {"name": 5}, {"op": "set", "name": "X"}, {"names": "EDITOR"}, {"names": ["A"] * 300}]
)
def test_bad_params(env_ctx: tuple[EnvConnector, ConnectorContext, AuditStore], params: dict[str, object]) -> None:
    conn, ctx, _ = env_ctx
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, params)
    assert err.value.code == "invalid_request"
