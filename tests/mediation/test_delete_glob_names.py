"""A recursive delete whose last component is only wildcards deletes the folder's contents: judged as the folder.

``rm -rf ~/*`` was critical, but ``rm -rf ~/.[!.]*`` (every hidden entry of the home: .ssh, .config, .gnupg),
``~/.??*``, ``~/?*`` or ``~/[a-z]*`` were a "home subdirectory" (high: run under balanced and permissive), and
``.[!.]*`` in the workspace (its .git) was a plain file delete (medium). Pure classification: nothing runs.
"""

from __future__ import annotations

import pytest

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.mediation.exec_mediation import ExecMediator

PROFILES = ("safe", "balanced", "permissive")
WHOLE = ("rm -rf ~/.[!.]*", "rm -rf ~/.??*", "rm -rf ~/?*", "rm -rf ~/[a-z]*", "rm -rf $HOME/.[^.]*",
         "rm -rf \"$HOME\"/.[!.]*", "rm -rf ./.[!.]*", "rm -rf .[!.]*", "rm -rf /?*", "rm -fr ~/.[a-zA-Z]*",
         "rm -rf -- ~/?* ~/.??*")
SCOPED = ("rm -rf build/?*", "rm -rf node_modules/.[!.]*", "rm -rf /tmp/x/?*", "cd build && rm -rf ?*")


def _decide(profile: str, line: str) -> tuple[str, str | None, str | None]:
    decision = ExecMediator(ExecMediationSettings(), profile).evaluate("sh", ["-c", line])
    return decision.decision, decision.command_class, decision.risk_tier


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("line", WHOLE)
def test_wildcard_only_names_delete_the_folder(profile: str, line: str) -> None:
    assert _decide(profile, line) == ("deny", "recursive_delete", "critical"), line


@pytest.mark.parametrize("line", SCOPED)
def test_wildcards_inside_a_project_folder_stay_below_critical(line: str) -> None:
    assert _decide("permissive", line)[2] != "critical", line


#: ``find`` walks its roots: a wildcard-only root name is every (hidden) entry of the folder, as for rm.
FIND_WHOLE = ("find ~/.[!.]* -delete", "find ~/?* -delete", "find $HOME/.??* -delete",
              "find ~/.[!.]* -exec rm -rf {} +", "find ~/.??* -exec rm -rf {} \\;",
              "find ~/?* -print0 | xargs -0 rm -rf", "find .[!.]* -delete")
FIND_SCOPED = ("find build/?* -delete", "find . -name '*.pyc' -delete", "find node_modules/.[!.]* -delete")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("line", FIND_WHOLE)
def test_find_from_wildcard_only_roots_deletes_the_folder(profile: str, line: str) -> None:
    assert _decide(profile, line) == ("deny", "recursive_delete", "critical"), line


@pytest.mark.parametrize("line", FIND_SCOPED)
def test_find_inside_a_project_folder_stays_below_critical(line: str) -> None:
    assert _decide("permissive", line)[2] != "critical", line
