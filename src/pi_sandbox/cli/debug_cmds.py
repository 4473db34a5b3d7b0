"""``pi debug hostcall``: issue one hostcall through the full pipeline, as an extension would."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from pi_sandbox.cli.commands import CommandTree
from pi_sandbox.cli.context import CliContext, UsageError, add_json_flag, parse_json_arg


def _render(result: dict[str, Any]) -> str:
    if result["ok"]:
        return f"ok ({result['capability']}): {result['result']}"
    return f"{result['error_code']} ({result['reason']}): {result['message']}"


def _hostcall(args: argparse.Namespace, ctx: CliContext) -> int:
    params = parse_json_arg(args.params, "--params")
    if not isinstance(params, dict):
        raise UsageError("--params must be a JSON object")
    request: dict[str, Any] = {"call_id": args.call_id or f"debug-{uuid.uuid4().hex[:12]}",
                               "method": args.method, "params": params}
    if args.capability:
        request["capability"] = args.capability
    sandbox = ctx.open_sandbox()
    try:
        result = sandbox.hostcall(args.extension_id, request).to_dict()
    finally:
        sandbox.close()
    ctx.emit(result, _render)
    return 0 if result["ok"] else 1


def register(tree: CommandTree) -> None:
    group = tree.group("debug")
    parser = group.add_parser("hostcall", help="issue one hostcall through the full pipeline (recorded)")
    parser.add_argument("--extension", dest="extension_id", required=True, metavar="ID")
    parser.add_argument("--method", required=True, metavar="M")
    parser.add_argument("--capability", metavar="C", help="declared capability (checked, never trusted)")
    parser.add_argument("--params", default="{}", metavar="JSON")
    parser.add_argument("--call-id", metavar="ID")
    add_json_flag(parser)
    parser.set_defaults(handler=_hostcall)
