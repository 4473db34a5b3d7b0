"""``pi-sandbox security risk status``: the controller's settings and threshold, and per extension what
the sessions last recorded (``risk_state`` snapshots) and their alarms (``risk_alarm`` records)."""

from __future__ import annotations

from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.audit import AuditStore
from pi_sandbox.config.model import RiskSettings
from pi_sandbox.risk.calibrate import for_window
from pi_sandbox.risk.calibration import Calibration
from pi_sandbox.risk.controller import ALARM_KIND, STATE_KIND

#: Alarms listed per extension (the newest).
ALARMS_SHOWN: Final = 20


def settings_summary(settings: RiskSettings, calibration: Calibration | None = None) -> dict[str, Any]:
    """The settings in force, with the threshold they give and what it certifies."""
    out: dict[str, Any] = {"enabled": settings.enabled, "enforce": settings.enforce, "alpha": settings.alpha,
                           "window_size": settings.window_size, "ledger_limit": settings.ledger_limit,
                           "decision_timeout_ms": settings.decision_timeout_ms, "fail_closed": settings.fail_closed}
    if settings.enabled:
        calibration = calibration or for_window(settings.window_size)
        out.update(threshold=calibration.threshold(settings.alpha),
                   certified_alpha=calibration.effective_alpha(settings.alpha),
                   calibration={"source": calibration.source, "windows": calibration.windows,
                                "method": "split-conformal p-values over benign window maxima",
                                "generator": dict(calibration.generator)})
    return out


def risk_status(store: AuditStore | None, settings: RiskSettings, extension_id: str | None = None) -> dict[str, Any]:
    """Settings, and per extension its latest state snapshot and newest alarms."""
    extensions: list[dict[str, Any]] = []
    if store is not None:
        latest: dict[str, Any] = {}
        for record in store.query_records(kind=STATE_KIND, extension_id=extension_id):
            latest[record.extension_id or ""] = record
        alarms: dict[str, list[dict[str, Any]]] = {}
        for record in store.query_records(kind=ALARM_KIND, extension_id=extension_id):
            alarms.setdefault(record.extension_id or "", []).append(dict(record.payload))
        for ext in sorted(set(latest) | set(alarms)):
            snapshot = latest.get(ext)
            extensions.append({"extension_id": ext, "as_of_ms": snapshot.ts_ms if snapshot else None,
                               **(dict(snapshot.payload) if snapshot else {}),
                               "alarms": alarms.get(ext, [])[-ALARMS_SHOWN:]})
    return {"schema": schemas.RISK_STATUS, "settings": settings_summary(settings), "extensions": extensions}
