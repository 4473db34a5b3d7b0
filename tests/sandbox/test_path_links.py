"""Red team (exec sandbox): links a child leaves in a ``PATH`` folder of the project never widen the sandbox.

Toolchains under the masked home stay readable because ``PATH`` leads to them: every ``PATH`` folder under a mask
is exposed, and so is the target of every link in one. With a ``PATH`` folder inside the project (an activated
project venv's ``bin``, ``node_modules/.bin``), a link a child made there in an earlier session
(``.venv/bin/helper -> ~/Documents/taxes.txt``), or the folder itself replaced by a link to one, exposed that folder
of the home, read-only, to every child of the next session.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.base import ConnectorContext
from tests.conftest import OpenSandbox, PiEnv

PRIVATE = "PRIVATE-HOME-DATA-42"


@pytest.mark.parametrize("how", ["link_in_folder", "folder_is_link", "link_to_folder"])
@pytest.mark.parametrize("folder", [".venv/bin", "node_modules/.bin", "tools"])
def test_links_in_a_project_path_folder_expose_nothing(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                        monkeypatch: pytest.MonkeyPatch, how: str,
                                                        folder: str) -> None:
    docs = pi_env.home / "Documents"
    docs.mkdir()
    (docs / "taxes.txt").write_text(PRIVATE + "\n")
    entry = pi_env.workspace / folder
    if how == "folder_is_link":
        entry.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(docs, entry)
    else:
        entry.mkdir(parents=True)
        os.symlink(docs / "taxes.txt" if how == "link_in_folder" else docs, entry / "helper")
    monkeypatch.setenv("PATH", f"{entry}{os.pathsep}{os.environ['PATH']}")
    box = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    ctx = ConnectorContext("ext.hostile", "c1", "exec", Capability.EXEC, box.rules_for("ext.hostile"),
                           box.public_config, box.evidence)
    script = f"cat {docs}/taxes.txt; ls -a {pi_env.home}"
    out: dict[str, Any] = box.exec.call(ctx, {"cmd": "sh", "args": ["-c", script]})
    assert PRIVATE not in out["stdout"], out
    assert "Documents" not in out["stdout"], out
    assert Path(docs / "taxes.txt").read_text() == PRIVATE + "\n"
