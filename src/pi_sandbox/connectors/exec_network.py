"""Network for exec children that may have it: a filtering HTTP proxy outside the sandbox.

A child always runs in its own network namespace with only a loopback interface. When
``perExtension.<id>.sandbox.network`` is on, the exec connector opens a listening socket *inside*
that namespace (on ``127.0.0.1:3128``, before the command starts) and serves it from the supervisor:

- the listener is made by a short helper process that joins the child's user and network
  namespaces (``setns``; a multithreaded supervisor cannot join a user namespace itself) and hands
  the socket back over a socketpair; nothing runs inside the sandbox for it;
- the child gets ``HTTP_PROXY`` / ``HTTPS_PROXY`` (and the lower-case forms) pointing there, as with
  any corporate proxy; a program that ignores them reaches nothing, there is no other route;
- each request is ``CONNECT host:port`` (HTTPS and other TLS; the proxy never sees inside) or a
  plain-HTTP request with an absolute URL; its host is decided by the same host policy as the
  ``http`` connector (``allowHosts`` / ``denyHosts``, global and per extension; non-public addresses
  need an explicit entry; the checked address is the one connected to), and every connection,
  allowed or refused, is one ledger entry (kind ``exec_network``, host by hash);
- everything ends with the call: the listener and every relayed connection are closed.
"""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from pi_sandbox.audit import LedgerEntryDraft
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.errors import ConnectorError, SandboxUnavailableError
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.sandbox.launch import PROXY_PORT

MAX_HEAD_BYTES: Final = 64 * 1024
_HEAD_TIMEOUT_S: Final = 10.0
_CONNECT_TIMEOUT_S: Final = 10.0
_HELPER_TIMEOUT_S: Final = 10.0
#: Joins the child's user namespace (the one owning its network namespace) and network namespace,
#: listens on loopback there and sends the socket back. ``-I -S``: nothing from the environment.
_HELPER = """
import ctypes, fcntl, os, socket, sys
pid, chan = int(sys.argv[1]), socket.socket(fileno=int(sys.argv[2]))
libc = ctypes.CDLL(None, use_errno=True)
net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
if os.geteuid() != 0:
    owner = fcntl.ioctl(net, 0xB701)  # NS_GET_USERNS
    if libc.setns(owner, 0x10000000) != 0:
        sys.exit("setns(user): " + os.strerror(ctypes.get_errno()))
if libc.setns(net, 0x40000000) != 0:
    sys.exit("setns(net): " + os.strerror(ctypes.get_errno()))
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[3])))
server.listen(64)
socket.send_fds(chan, [b"L"], [server.fileno()])
"""

#: ``url`` → the checked address to connect to; raises ``ConnectorError`` when the host is refused.
Decide = Callable[[str], str]


def open_listener(child_pid: int) -> socket.socket:
    """A listening socket inside ``child_pid``'s network namespace (see module doc)."""
    ours, theirs = socket.socketpair()
    try:
        helper = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _HELPER, str(child_pid), str(theirs.fileno()), str(PROXY_PORT)],
            pass_fds=(theirs.fileno(),), capture_output=True, text=True, timeout=_HELPER_TIMEOUT_S, env={},
            check=False)
        theirs.close()
        if helper.returncode != 0:
            raise SandboxUnavailableError(f"cannot open the network proxy inside the sandbox: "
                                          f"{helper.stderr.strip()[-300:]}")
        ours.settimeout(_HELPER_TIMEOUT_S)
        _msg, fds, _flags, _addr = socket.recv_fds(ours, 1, 1)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailableError(f"cannot open the network proxy inside the sandbox: {exc}") from None
    finally:
        theirs.close()
        ours.close()
    if not fds:
        raise SandboxUnavailableError("cannot open the network proxy inside the sandbox: no socket came back")
    return socket.socket(fileno=fds[0])


class ExecProxy:
    """Serves one child's proxy listener until :meth:`close`."""

    def __init__(self, ctx: ConnectorContext, listener: socket.socket, decide: Decide) -> None:
        self.ctx = ctx
        self.listener = listener
        self.decide = decide
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._serve, name="pi-exec-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and cut every relayed connection."""
        self._stop.set()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in (self.listener, *sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._thread.join(timeout=2)

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stop.is_set():
                return False
            self._open.add(sock)
            return True

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.listener], [], [], 0.2)
                if not ready:
                    continue
                client, _ = self.listener.accept()
            except (OSError, ValueError):
                return
            if self._track(client):
                threading.Thread(target=self._handle, args=(client,), name="pi-exec-proxy-conn", daemon=True).start()
            else:
                client.close()

    def _handle(self, client: socket.socket) -> None:
        try:
            head = _read_head(client)
            method, target, rest = _request_line(head)
            if method == "CONNECT":
                host, _, port_text = target.rpartition(":")
                host = host.strip("[]")
                url, port = f"https://{host}:{port_text}/", int(port_text)
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    raise ValueError("only absolute http:// URLs or CONNECT")
                host, port, url = parts.hostname, parts.port or 80, target
        except (ValueError, OSError):
            self._refuse(client, 400, "Bad Request")
            return
        try:
            address = self.decide(url)
        except ConnectorError as exc:
            self._record(host, port, method, "deny", exc.reason or "host_denied")
            self._refuse(client, 403, "Forbidden")
            return
        self._record(host, port, method, "allow", "host_allowed")
        try:
            upstream = socket.create_connection((address, port), timeout=_CONNECT_TIMEOUT_S)
        except OSError:
            self._refuse(client, 502, "Bad Gateway")
            return
        if not self._track(upstream):
            upstream.close()
            client.close()
            return
        if method == "CONNECT":
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            parts = urlsplit(target)
            origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            upstream.sendall(f"{method} {origin} ".encode() + rest)
        _relay(client, upstream)

    def _refuse(self, client: socket.socket, status: int, text: str) -> None:
        try:
            body = f"pi-sandbox: {text.lower()} (exec network is limited to the extension's allowed hosts)\n"
            client.sendall(f"HTTP/1.1 {status} {text}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                           f"{body}".encode())
        except OSError:
            pass
        client.close()

    def _record(self, host: str, port: int, method: str, decision: str, reason: str) -> None:
        self.ctx.evidence.append_decision(LedgerEntryDraft(
            kind="exec_network", extension_id=self.ctx.extension_id, decision=decision, reason=reason,
            call_id=self.ctx.call_id, capability=self.ctx.capability.value, method="exec",
            detail={"host_hash": sha256_hex(host.lower()), "port": port, "request": method,
                    "stage": "connector"}))


def _read_head(client: socket.socket) -> bytes:
    client.settimeout(_HEAD_TIMEOUT_S)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(8192)
        if not chunk:
            raise ValueError("connection closed before the request head")
        data += chunk
        if len(data) > MAX_HEAD_BYTES:
            raise ValueError("request head too large")
    client.settimeout(None)
    return data


def _request_line(head: bytes) -> tuple[str, str, bytes]:
    """(method, target, everything after the target: version, headers, any body bytes already read)."""
    line, _, _ = head.partition(b"\r\n")
    method, target, version = line.decode("latin-1").split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError("not HTTP/1.x")
    return method.upper(), target, head[len(method) + 1 + len(target) + 1:]


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (or the proxy is closed)."""
    peers = {a: b, b: a}
    try:
        while True:
            ready, _, _ = select.select(list(peers), [], [], 1.0)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)
    except (OSError, ValueError):
        return
    finally:
        for sock in (a, b):
            try:
                sock.close()
            except OSError:
                pass

