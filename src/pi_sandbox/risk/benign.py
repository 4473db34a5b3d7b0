"""Benign hostcall traces for calibration: what real extensions do, as seeded, reproducible sessions.

The personas follow the benign corpus (``spec/extension-api-surface.md`` §2.8 and the official examples):
status lines that run ``git`` every turn, file explorers and search tools (bursts of reads), editors,
clients of one web API (with their own API key, a secret-named variable the broker withholds), config
loaders that probe ``~/.pi``, ``~/.config`` and ``.env`` and are refused, notifiers (``notify-send``,
``tmux``, ``osascript``), runners of the project's scripts, and ``bash`` tool users. A session mixes one
to all of the personas in random proportions; grants vary per session (exec and env each refused in half
of them, as under the default ``safe`` profile; some hosts not allowed), and about 2 % of calls are
refused paths. None reads a secret file it was given, or runs
a file it wrote: those are the sequences the controller exists to refuse.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

#: The extension's own folder in traces (outside the workspace, like a real one).
OWN_DIR: Final = "/ext/benign/data"
_DIRS: Final = ("src", "src/lib", "src/components", "src/utils", "docs", "tests", "packages/core/src", ".")
_NAMES: Final = ("index", "main", "utils", "config", "types", "api", "server", "client", "app", "helpers", "model",
                 "store", "router", "parser", "render", "README", "CHANGELOG", "notes")
_EXTS: Final = (".ts", ".js", ".md", ".json", ".py", ".tsx", ".css")
_SCRIPTS: Final = ("scripts/build.js", "scripts/gen.py", "scripts/release.mjs", "tools/check.ts")
_HOSTS: Final = ("api.github.com", "api.anthropic.com", "api.openai.com", "registry.npmjs.org", "example.com",
                 "raw.githubusercontent.com", "hooks.slack.com", "api.linear.app")
_KEYS: Final = ("ACME_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "LINEAR_API_KEY", "SYNTHETIC_API_KEY")
_PLAIN_ENV: Final = ("HOME", "EDITOR", "VISUAL", "SHELL", "TERM", "PI_CODING_AGENT_DIR", "LANG", "USER")
_GIT: Final = (["status", "--porcelain"], ["branch", "--show-current"], ["rev-parse", "--abbrev-ref", "HEAD"],
               ["log", "-1", "--format=%s"], ["diff", "--stat"], ["stash", "list"])
_BASH: Final = ("ls -la", "git log --oneline | head -20", "npm run build", "grep -rn TODO src | wc -l",
                "cat package.json", "find . -name '*.ts' | head -50", "git status --short && git diff --stat",
                "wc -l src/*.ts", "node --version", "python3 -m pytest -q tests", "npx tsc --noEmit",
                "git diff HEAD~1 -- src | head -200", "ls node_modules | wc -l", "du -sh .")


class StepResult(StrEnum):
    """How a traced call ended."""

    DONE = "done"
    FAILED = "failed"  # allowed, the effect failed (missing file)
    REFUSED_BEFORE = "refused_before"  # refused before the risk stage (policy)
    REFUSED_AFTER = "refused_after"  # refused after it (mediation: paths, secret files)


@dataclass(frozen=True, slots=True)
class Step:
    """One traced hostcall."""

    method: str
    params: Mapping[str, Any]
    result: StepResult
    #: Seconds since the previous call.
    gap_s: float


@dataclass
class _Session:
    rng: random.Random
    exec_ok: bool
    env_ok: bool
    hosts: tuple[str, ...]
    allowed_hosts: frozenset[str]
    files: list[str]
    scripts: tuple[str, ...]
    api_key: str
    steps: list[Step] = field(default_factory=list)

    def add(self, method: str, params: Mapping[str, Any], result: StepResult, fast: bool = False) -> None:
        rng = self.rng
        gap = rng.uniform(0.0002, 0.003) if fast else rng.uniform(0.001, 0.03)
        if rng.random() < 0.02 and method != "fs":  # a refused path now and then
            self.steps.append(Step("fs", {"op": "read", "path": f"../{rng.choice(_NAMES)}.json"},
                                   StepResult.REFUSED_AFTER, gap))
        self.steps.append(Step(method, params, result, gap))

    def gated(self, ok: bool) -> StepResult:
        if not ok:
            return StepResult.REFUSED_BEFORE
        return StepResult.FAILED if self.rng.random() < 0.05 else StepResult.DONE

    def file(self) -> str:
        return self.rng.choice(self.files)


def _git_status(s: _Session) -> None:
    s.add("events", {"op": "emit", "event": "turn_start"}, StepResult.DONE)
    s.add("exec", {"cmd": "git", "args": list(s.rng.choice(_GIT))}, s.gated(s.exec_ok))
    s.add("ui", {"op": "set_status", "text": "git"}, StepResult.DONE)
    if s.rng.random() < 0.3:
        s.add("session", {"op": "append_entry", "data": {}}, StepResult.DONE)


def _explorer(s: _Session) -> None:
    rng = s.rng
    folder = rng.choice(_DIRS)
    s.add("tool", {"name": "ls", "input": {"path": folder}}, StepResult.DONE)
    if rng.random() < 0.5:
        s.add("tool", {"name": "find", "input": {"pattern": "*" + rng.choice(_EXTS), "path": folder}}, StepResult.DONE,
              fast=True)
    if rng.random() < 0.5:
        s.add("tool", {"name": "grep", "input": {"pattern": rng.choice(_NAMES), "path": folder}}, StepResult.DONE,
              fast=True)
    for _ in range(rng.randint(2, 30)):
        op = rng.choice(("read", "read", "stat"))
        result = StepResult.FAILED if rng.random() < 0.05 else StepResult.DONE
        if rng.random() < 0.5:
            s.add("tool", {"name": "read", "input": {"path": s.file()}}, result, fast=True)
        else:
            s.add("fs", {"op": op, "path": s.file()}, result, fast=True)


def _editor(s: _Session) -> None:
    rng = s.rng
    target = s.file()
    s.add("tool", {"name": "read", "input": {"path": target}}, StepResult.DONE)
    s.add("tool", {"name": "edit", "input": {"path": target, "oldText": "a", "newText": "b"}}, s.gated(True))
    if rng.random() < 0.3:
        s.add("tool", {"name": "write", "input": {"path": f"docs/{rng.choice(_NAMES)}.md", "content": "x"}},
              StepResult.DONE)
    if rng.random() < 0.1:
        s.add("fs", {"op": "mkdir", "path": f"{rng.choice(_DIRS)}/{rng.choice(_NAMES)}"}, StepResult.DONE)
    if rng.random() < 0.4:
        cmd, args = rng.choice((("git", ["diff", target]), ("git", ["add", target]),
                                ("npx", ["prettier", "--check", target]), ("npm", ["test"]),
                                ("npx", ["eslint", target])))
        s.add("exec", {"cmd": cmd, "args": args}, s.gated(s.exec_ok))


def _fetcher(s: _Session) -> None:
    rng = s.rng
    if rng.random() < 0.3:
        s.add("env", {"name": rng.choice(("HOME", s.api_key))}, s.gated(s.env_ok))
    host = rng.choice(s.hosts)
    for _ in range(rng.randint(1, 4)):
        verb = rng.choice(("GET", "GET", "GET", "POST"))
        params: dict[str, Any] = {"url": f"https://{host}/v1/{rng.choice(_NAMES)}?page={rng.randint(1, 9)}",
                                  "method": verb}
        if verb == "POST":
            params["body"] = "{}"
        s.add("http", params, s.gated(host in s.allowed_hosts))
    if rng.random() < 0.5:
        s.add("session", {"op": "append_entry", "data": {}}, StepResult.DONE)


def _config(s: _Session) -> None:
    rng = s.rng
    s.add("fs", {"op": "read", "path": "~/.pi/agent/extension.json"}, StepResult.REFUSED_AFTER)
    s.add("fs", {"op": "read", "path": ".pi/extension.json"}, rng.choice((StepResult.DONE, StepResult.FAILED)))
    if rng.random() < 0.3:  # dotenv looks for .env; mediation refuses it
        s.add("fs", {"op": "read", "path": ".env"}, StepResult.REFUSED_AFTER)
    for name in rng.sample(_PLAIN_ENV, rng.randint(1, 3)):
        s.add("env", {"name": name}, s.gated(s.env_ok))
    if rng.random() < 0.2:
        s.add("fs", {"op": "write", "path": "~/.config/extension/state.json", "data": "{}"}, StepResult.REFUSED_AFTER)
    s.add("fs", {"op": "write", "path": f"{OWN_DIR}/state.json", "data": "{}"}, StepResult.DONE)


def _notifier(s: _Session) -> None:
    rng = s.rng
    s.add("events", {"op": "emit", "event": "agent_end"}, StepResult.DONE)
    cmd, args = rng.choice((("notify-send", ["pi", "done"]), ("tmux", ["display-message", "pi: done"]),
                            ("osascript", ["-e", 'display notification "done" with title "pi"']),
                            ("paplay", ["/usr/share/sounds/freedesktop/stereo/complete.oga"])))
    s.add("exec", {"cmd": cmd, "args": args}, s.gated(s.exec_ok))
    s.add("ui", {"op": "notify", "message": "done"}, StepResult.DONE)


def _llm_client(s: _Session) -> None:
    rng = s.rng
    s.add("env", {"name": s.api_key}, s.gated(s.env_ok))
    for _ in range(rng.randint(1, 5)):
        s.add("tool", {"name": "read", "input": {"path": s.file()}}, StepResult.DONE, fast=True)
    s.add("http", {"url": "https://api.anthropic.com/v1/messages", "method": "POST", "body": "{}"},
          s.gated("api.anthropic.com" in s.allowed_hosts))
    s.add("session", {"op": "append_entry", "data": {}}, StepResult.DONE)
    if rng.random() < 0.3:
        s.add("log", {"message": "summary ready"}, StepResult.DONE)


def _runner(s: _Session) -> None:
    rng = s.rng
    script = rng.choice(s.scripts)
    program = {"js": "node", "mjs": "node", "py": "python3", "ts": "npx"}[script.rsplit(".", 1)[1]]
    args = ["tsx", script] if program == "npx" else [script]
    s.add("exec", {"cmd": program, "args": args}, s.gated(s.exec_ok))
    if rng.random() < 0.5:
        s.add("exec", {"cmd": "pi", "args": ["--mode", "json", "-p", "summarize the diff"]}, s.gated(s.exec_ok))
    s.add("tool", {"name": "read", "input": {"path": s.file()}}, StepResult.DONE)
    s.add("fs", {"op": "write", "path": f"{OWN_DIR}/run-{rng.randint(1, 50)}.json", "data": "{}"}, StepResult.DONE)


def _shell_user(s: _Session) -> None:
    s.add("tool", {"name": "bash", "input": {"command": s.rng.choice(_BASH)}}, s.gated(s.exec_ok))


PERSONAS: Final[tuple[Callable[[_Session], None], ...]] = (
    _git_status, _explorer, _editor, _fetcher, _config, _notifier, _llm_client, _runner, _shell_user)


def benign_session(rng: random.Random, length: int) -> list[Step]:
    """One session of about ``length`` calls (whole turns) from one or more personas."""
    hosts = tuple(rng.sample(_HOSTS, rng.randint(1, 4)))
    allowed = frozenset(h for h in hosts if rng.random() < 0.6)
    files = [f"{d}/{n}{e}" if d != "." else f"{n}{e}"
             for d, n, e in ((rng.choice(_DIRS), rng.choice(_NAMES), rng.choice(_EXTS)) for _ in range(200))]
    session = _Session(rng, exec_ok=rng.random() < 0.5, env_ok=rng.random() < 0.5, hosts=hosts,
                       allowed_hosts=allowed, files=sorted(set(files)), scripts=_SCRIPTS, api_key=rng.choice(_KEYS))
    personas = rng.sample(PERSONAS, rng.randint(1, len(PERSONAS)))
    weights = [rng.uniform(0.05, 1.0) for _ in personas]
    if _config in personas or rng.random() < 0.5:
        _config(session)  # most extensions read their settings at start
    while len(session.steps) < length:
        start = len(session.steps)
        rng.choices(personas, weights)[0](session)
        first = session.steps[start]
        # turns are apart: the user and the model take their time
        session.steps[start] = Step(first.method, first.params, first.result, rng.expovariate(1 / 4.0) + 0.05)
    return session.steps[:length]


def benign_sessions(seed: int, count: int, min_length: int, max_length: int) -> Iterator[list[Step]]:
    """``count`` sessions, reproducible from ``seed``."""
    rng = random.Random(seed)
    for _ in range(count):
        yield benign_session(random.Random(rng.getrandbits(64)), rng.randint(min_length, max_length))
