"""``python -m pi_sandbox``: the ``pi-sandbox`` command."""

import os
import sys

# ``python -m`` puts the current folder first on the import path (unless -P / PYTHONSAFEPATH). Run in a project,
# that folder is the workspace, which extensions and their commands write: a ``difflib.py`` or ``httpx.py`` left
# there was imported by the supervisor itself — at start, or at an extension's first fetch — and ran with the
# user's full authority, outside every sandbox. The console script has no such entry; this makes the two equal.
if not sys.flags.safe_path and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from pi_sandbox.cli.main import run  # noqa: E402  (after the import path is made safe)

run()
