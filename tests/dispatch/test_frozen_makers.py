"""The allow path makes its ``HostcallResult`` and ``ConnectorContext`` by setting their ``__dict__`` at once
(``dispatch.call.plain_frozen``): the instance must be the one the class's own ``__init__`` makes, and a class
that stopped being a plain frozen dataclass must be made by its ``__init__`` again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.dispatch import Sandbox, request
from pi_sandbox.dispatch import sandbox as sandbox_module
from pi_sandbox.dispatch.call import CallInfo, instance_with, plain_frozen
from pi_sandbox.dispatch.request import HostcallResult

Request = Callable[..., dict[str, Any]]


def test_the_shipped_classes_take_the_fast_path() -> None:
    # If one of them changes (a field, slots, __post_init__), its module falls back to the constructor and
    # this test says so: update the field tuple there (and here) after checking the new field's meaning.
    assert request._PLAIN_RESULT and sandbox_module._PLAIN_CONTEXT


@pytest.mark.parametrize("result", [None, {"a": [1, 2]}, "text"])
def test_done_is_what_the_constructor_makes(result: Any) -> None:
    made = HostcallResult.done("c-1", result, "read", 7)
    plain = HostcallResult(True, "c-1", result, None, None, None, "read", 7)
    assert made == plain and vars(made) == vars(plain) and repr(made) == repr(plain)
    assert type(made) is HostcallResult and made.ledger_seq == 7 and made.to_dict() == plain.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.ok = False  # type: ignore[misc]


def test_the_connector_context_is_what_the_constructor_makes(sandbox: Sandbox, make_request: Request) -> None:
    call = sandbox.pipeline.capability.derive("ext.a", make_request("fs", {"op": "read", "path": "a.txt"}))
    assert isinstance(call, CallInfo)
    made = sandbox._context(call, "fs")
    plain = ConnectorContext(call.extension_id, call.call_id, "fs", call.capability, sandbox.rules_for("ext.a"),
                             sandbox.public_config, sandbox.evidence, call.timeout_ms)
    assert made == plain and vars(made) == vars(plain) and type(made) is ConnectorContext
    gated = dataclasses.replace(made, durable=sandbox.evidence.sync)  # what an effect's gate does with it
    assert gated.durable is not None and gated.call_id == call.call_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.call_id = "other"  # type: ignore[misc]


def test_classes_that_are_not_plain_frozen_dataclasses_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Plain:
        a: int
        b: str = "x"

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclasses.dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True)
    class Derived:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    assert plain_frozen(Plain, ("a", "b"))
    assert instance_with(Plain, {"a": 1, "b": "y"}) == Plain(1, "y")
    assert not plain_frozen(Plain, ("a",)) and not plain_frozen(Plain, ("b", "a"))  # a field added or moved
    assert not plain_frozen(Slotted, ("a",))
    assert not plain_frozen(Checked, ("a",))
    assert not plain_frozen(Derived, ("a", "b"))
    assert not plain_frozen(dict, ())


def test_an_allowed_call_returns_the_redacted_result(sandbox: Sandbox, make_request: Request) -> None:
    result = sandbox.hostcall("ext.a", make_request("log", {"message": "hello"}))
    assert result.ok and result.error_code is None and result.message is None and result.reason is None
    assert result.capability == "log" and result.ledger_seq is not None
    entry = sandbox.store.query_ledger(after_seq=result.ledger_seq - 1, limit=1)[0]
    assert (entry.seq, entry.call_id, entry.decision) == (result.ledger_seq, result.call_id, "allow")
