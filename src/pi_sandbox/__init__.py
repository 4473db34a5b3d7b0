"""pi-sandbox: run third-party pi extensions with no ambient authority.

The front door for Python programs (docs/embedding.md)::

    from pi_sandbox import open_session

    with open_session(["./my-extension.ts"]) as session:
        print(session.tools())
        print(session.call_tool("greet", {"name": "ann"}).text)

Names load on first use, so ``import pi_sandbox`` (and with it ``pi-sandbox --help``) stays cheap.
"""

# No imports at all (not even typing, 10-50 ms, or importlib): ``import pi_sandbox`` must stay cheap.
#: Not ``typing.TYPE_CHECKING`` (mypy treats any name ``TYPE_CHECKING`` as true).
TYPE_CHECKING = False

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("open_session", "Session"), "pi_sandbox.session.core"),
    **dict.fromkeys(("Denial", "Dialog", "DialogCallback", "ExtensionInfo", "PermissionAnswer", "PermissionPrompt",
                     "PromptCallback", "ToolResult", "ToolSpec"), "pi_sandbox.session.model"),
    **dict.fromkeys(("PiSandboxError", "ConfigError", "ExtensionLoadError", "ExtensionRuntimeError",
                     "SessionClosedError", "SessionError", "ToolArgumentsError", "ToolNotFoundError",
                     "ToolchainMissingError"), "pi_sandbox.errors"),
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # the same names for type checkers and IDEs (``X as X``: re-exported)
    from typing import Any

    from pi_sandbox.errors import ConfigError as ConfigError
    from pi_sandbox.errors import ExtensionLoadError as ExtensionLoadError
    from pi_sandbox.errors import ExtensionRuntimeError as ExtensionRuntimeError
    from pi_sandbox.errors import PiSandboxError as PiSandboxError
    from pi_sandbox.errors import SessionClosedError as SessionClosedError
    from pi_sandbox.errors import SessionError as SessionError
    from pi_sandbox.errors import ToolArgumentsError as ToolArgumentsError
    from pi_sandbox.errors import ToolchainMissingError as ToolchainMissingError
    from pi_sandbox.errors import ToolNotFoundError as ToolNotFoundError
    from pi_sandbox.session.core import Session as Session
    from pi_sandbox.session.core import open_session as open_session
    from pi_sandbox.session.model import Denial as Denial
    from pi_sandbox.session.model import Dialog as Dialog
    from pi_sandbox.session.model import DialogCallback as DialogCallback
    from pi_sandbox.session.model import ExtensionInfo as ExtensionInfo
    from pi_sandbox.session.model import PermissionAnswer as PermissionAnswer
    from pi_sandbox.session.model import PermissionPrompt as PermissionPrompt
    from pi_sandbox.session.model import PromptCallback as PromptCallback
    from pi_sandbox.session.model import ToolResult as ToolResult
    from pi_sandbox.session.model import ToolSpec as ToolSpec


def __getattr__(name: str) -> "Any":
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pi_sandbox' has no attribute '{name}'")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
