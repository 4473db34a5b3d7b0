"""The ``net`` connector: sockets, servers and threads for the builtins that need them — not available yet.

The JS modules ``net``, ``tls``, ``dgram``, ``http2``, ``worker_threads``, ``cluster``, ``inspector`` and the
http servers load for every extension and ask for their effects with a ``net`` hostcall, so the pipeline
decides (capability from ``capabilities.NET_OP_CAPABILITY``) and ledgers each attempt. Carrying one out needs
what the worker protocol does not have: the host pushing data into a worker that is not serving a request
(an idle socket, an incoming connection, a message from a thread). Until it does, an allowed call is answered
with ``unsupported`` and a message that names the operation and the alternative.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.errors import ConnectorError

_WHAT: Final[Mapping[str, str]] = {
    "connect": "raw TCP/TLS client sockets (use fetch or node:http(s), which go through the http hostcall)",
    "connect_unix": "unix-domain socket connections",
    "listen": "listening servers",
    "udp": "UDP sockets",
    "thread": "worker threads, cluster workers and forked processes (use child_process for commands)",
    "inspector": "the inspector (debugger) port",
}


class NetConnector:
    """Refuses every allowed ``net`` operation with ``unsupported`` (see the module docstring)."""

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        op = str(params.get("op", "")).strip().lower()
        what = _WHAT.get(op)
        if what is None:
            raise ConnectorError(f"unknown net op '{op}'", code="invalid_request")
        raise ConnectorError(f"the pi-sandbox runtime does not support {what} yet", code="unsupported",
                             reason="net_unsupported")
