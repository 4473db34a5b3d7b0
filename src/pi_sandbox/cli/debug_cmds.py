"""``pi-sandbox debug hostcall``: issue one hostcall through the full pipeline, as an extension would."""

from __future__ import annotations

import json
import uuid
from typing import Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, UsageError, parse_json_arg
from pi_sandbox.errors import ExitCode


def _render(result: dict[str, Any]) -> str:
    if result["ok"] and isinstance(result["result"], dict) and result["result"].get("dry_run"):
        return f"would be allowed ({result['capability']}, {result['reason']}); dry run: nothing was carried out"
    if result["ok"]:
        return f"ok ({result['capability']}): {json.dumps(result['result'], ensure_ascii=False)}"
    return f"{result['error_code']} ({result['reason']}): {result['message']}"


@command(extension="the extension id the call is made as")
@click.option("--method", required=True, metavar="M", help="hostcall method: fs, exec, env, http, ...")
@click.option("--capability", metavar="C", help="declared capability (checked, never trusted)")
@click.option("--params", default="{}", metavar="JSON", help="the call's parameters as a JSON object")
@click.option("--call-id", metavar="ID", help="call id to record (default: a fresh debug-… id)")
@click.option("--dry-run", is_flag=True, help="decide and record, but never carry the call out")
def hostcall(ctx: CliContext, method: str, capability: str | None, params: str, call_id: str | None,
             dry_run: bool) -> int:
    """Issue one hostcall through the full pipeline, as the extension would, and record it.

    With --dry-run every stage decides and the decision is recorded (marked dry_run), and so do the
    connector's own checks (http: host lists and the resolved addresses), but nothing is read, written, run
    or sent. Exit 0 when the call was allowed (and, without
    --dry-run, succeeded), 1 when it was denied or failed."""
    decoded = parse_json_arg(params, "--params")
    if not isinstance(decoded, dict):
        raise UsageError(f"{PROG} debug hostcall: --params must be a JSON object")
    extension_id = ctx.extension_id("debug hostcall")
    assert extension_id is not None
    request: dict[str, Any] = {"call_id": call_id or f"debug-{uuid.uuid4().hex[:12]}", "method": method,
                               "params": decoded}
    if capability:
        request["capability"] = capability
    sandbox = ctx.open_sandbox()
    try:
        result = sandbox.hostcall(extension_id, request, dry_run=dry_run).to_dict()
    finally:
        sandbox.close()
    ctx.emit(result, _render)
    return ExitCode.OK if result["ok"] else ExitCode.FAILURE
