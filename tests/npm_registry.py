"""A local npm registry on 127.0.0.1 for tests: packages written by the test, installed with real npm.

Serves the two documents npm needs: the packument (``GET /<name>``, scoped names URL-encoded) and
the tarball (``GET /<name>/-/<base>-<version>.tgz``). ``npm_env()`` gives the environment that points
npm at it with a private cache, so no test reaches the internet or the developer's npm cache.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

NPM = shutil.which("npm")


def write_package(folder: Path, manifest: dict[str, Any], files: dict[str, str]) -> Path:
    """Write a package folder: ``package.json`` plus dedented ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return folder


def pack(folder: Path) -> bytes:
    """A reproducible npm tarball of ``folder`` (every file under ``package/``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = tar.gettarinfo(str(path), arcname="package/" + path.relative_to(folder).as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    return buf.getvalue()


class LocalRegistry:
    """Packages by name and version, served over HTTP on 127.0.0.1 until ``close()``."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.packages: dict[str, dict[str, tuple[dict[str, Any], bytes]]] = {}
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = unquote(self.path.split("?", 1)[0]).lstrip("/")
                if "/-/" in path:
                    name, file = path.split("/-/", 1)
                    for version, (_manifest, tarball) in registry.packages.get(name, {}).items():
                        if file == f"{name.rsplit('/', 1)[-1]}-{version}.tgz":
                            return self._send(200, tarball, "application/octet-stream")
                    return self._send(404, b"{}", "application/json")
                versions = registry.packages.get(path)
                if not versions:
                    return self._send(404, b'{"error":"not found"}', "application/json")
                return self._send(200, json.dumps(registry.packument(path)).encode(), "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def publish(self, folder: Path) -> None:
        """Make the package in ``folder`` installable (its current files)."""
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        self.packages.setdefault(manifest["name"], {})[manifest["version"]] = (manifest, pack(folder))

    def packument(self, name: str) -> dict[str, Any]:
        versions = self.packages[name]
        doc: dict[str, Any] = {"name": name, "dist-tags": {"latest": sorted(versions)[-1]}, "versions": {}}
        for version, (manifest, tarball) in versions.items():
            digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
            doc["versions"][version] = {
                **manifest,
                "dist": {
                    "tarball": f"{self.url}{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz",
                    "shasum": hashlib.sha1(tarball).hexdigest(),  # noqa: S324 - npm's legacy field
                    "integrity": f"sha512-{digest}",
                },
            }
        return doc

    def npm_env(self) -> dict[str, str]:
        """Environment for npm: this registry, a private cache, no update checks or audits."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.cache_dir),
            "npm_config_registry": self.url,
            "npm_config_cache": str(self.cache_dir / "npm-cache"),
            "npm_config_update_notifier": "false",
            "npm_config_audit": "false",
            "npm_config_fund": "false",
        }

    def npm(self, *args: str, cwd: Path | None = None) -> None:
        """Run npm against this registry (scripts never run); raises with npm's output on failure."""
        assert NPM is not None, "npm is required for dependency tests (pi setup needs it too)"
        proc = subprocess.run([NPM, *args, "--ignore-scripts"], cwd=cwd, env=self.npm_env(),
                              capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"npm {' '.join(args)} failed: {proc.stderr[-2000:]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
