"""The Python front door: ``pi_sandbox.open_session()`` and the values it hands out (docs/embedding.md)."""

from pi_sandbox.session.core import Session, open_session
from pi_sandbox.session.model import (
    Denial,
    Dialog,
    DialogCallback,
    ExtensionInfo,
    PermissionAnswer,
    PermissionPrompt,
    PromptCallback,
    ToolResult,
    ToolSpec,
)

__all__ = [
    "Denial", "Dialog", "DialogCallback", "ExtensionInfo", "PermissionAnswer", "PermissionPrompt", "PromptCallback",
    "Session", "ToolResult", "ToolSpec", "open_session",
]
