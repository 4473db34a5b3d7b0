"""The runtime controls of one session: trust registry, kill switches, and the watcher that applies
an operator's change within 100 ms (``POLL_S``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from pi_sandbox.audit import AuditStore
from pi_sandbox.config.model import TrustSettings
from pi_sandbox.trust import control
from pi_sandbox.trust.killswitch import GLOBAL, KillSwitchBoard
from pi_sandbox.trust.registry import TrustRegistry
from pi_sandbox.trust.states import TrustState, TrustTransition
from pi_sandbox.vocabulary import Reason

Listener = Callable[[], None]


class Controls:
    """What stops an extension: a kill switch (global or its own) or quarantine."""

    def __init__(self, store: AuditStore, settings: TrustSettings, state_dir: Path, *, watch: bool = True) -> None:
        self.state_dir = state_dir
        self.registry = TrustRegistry(store, settings, on_transition=self._transitioned)
        self.switches = KillSwitchBoard(store)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._watcher = control.ControlWatcher(state_dir, self.reload) if watch else None

    def blocked(self, extension_id: str) -> tuple[Reason, str] | None:
        """Why ``extension_id`` may not act now (reason, operator-readable message), or None."""
        switch = self.switches.active_for(extension_id)
        if switch is not None:
            scope = "all extensions" if switch.scope == GLOBAL else f"extension '{extension_id}'"
            lift = "" if switch.scope == GLOBAL else f" --extension {extension_id}"
            return Reason.KILL_SWITCH, (
                f"stopped by the kill switch for {scope} (set by {switch.actor}: {switch.note}); an operator lifts "
                f"it with `pi-sandbox security kill-switch off{lift} --reason TEXT`")
        if self.registry.state(extension_id) is TrustState.QUARANTINED:
            return Reason.QUARANTINED, (
                f"extension '{extension_id}' is quarantined: every hostcall, handler, tool and command is stopped; "
                f"see `pi-sandbox ext trust history --extension {extension_id}` (runbook INC-5)")
        return None

    def version(self) -> int:
        """A number that changes whenever trust or a kill switch changes (the sum of two counters that
        only grow): a decision cached with it is still valid while it is the same."""
        return self.registry.version + self.switches.version

    def refresh(self) -> int:
        """Apply an operator's change now if the poller has not yet (the trust stage calls this before
        each decision), then :meth:`version`. Never call it while holding the registry's lock: the reload
        takes that lock."""
        if self._watcher is not None:
            self._watcher.check()
        return self.registry.version + self.switches.version

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every change of trust or kill switches (from any process)."""
        with self._lock:
            self._listeners.append(listener)

    def reload(self) -> None:
        """Re-read trust and switches from the ledger and tell the listeners."""
        self.registry.reload()
        self.switches.reload()
        self._notify()

    def _transitioned(self, transition: TrustTransition) -> None:
        control.bump(self.state_dir)  # other sessions on this state dir learn it too
        self._notify()

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        failed: BaseException | None = None
        for listener in listeners:
            try:
                listener()
            except Exception as exc:  # the others still run: one broken listener must not spare a worker
                failed = failed or exc
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Stop watching for changes."""
        if self._watcher is not None:
            self._watcher.stop()
