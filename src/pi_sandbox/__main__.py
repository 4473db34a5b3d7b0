"""``python -m pi_sandbox``: the ``pi-sandbox`` command."""

from pi_sandbox.cli.main import run

run()
