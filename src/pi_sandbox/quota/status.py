"""``pi-sandbox security quota status``: usage against limits, as the sessions last recorded it.

A session writes a usage snapshot (record kind ``quota_usage``) per extension at most once a second
while it runs, on every breach and when it closes; breaches are records of kind ``quota_breach``.
"""

from __future__ import annotations

from typing import Any

from pi_sandbox.audit import AuditStore


def quota_status(store: AuditStore, extension_id: str | None = None) -> list[dict[str, Any]]:
    """Per extension: the latest usage snapshot (with its time), its limits and its recorded breaches."""
    latest: dict[str, Any] = {}
    for record in store.query_records(kind="quota_usage", extension_id=extension_id):
        latest[record.extension_id or ""] = record
    breaches: dict[str, list[dict[str, Any]]] = {}
    for record in store.query_records(kind="quota_breach", extension_id=extension_id):
        breaches.setdefault(record.extension_id or "", []).append(dict(record.payload))
    out = []
    for ext in sorted(set(latest) | set(breaches)):
        snapshot = latest.get(ext)
        usage = dict(snapshot.payload.get("usage", {})) if snapshot else {}
        limits = dict(snapshot.payload.get("limits", {})) if snapshot else {}
        out.append({
            "extension_id": ext,
            "as_of_ms": snapshot.ts_ms if snapshot else None,
            "resources": [{"resource": r, "used": usage.get(r, 0), "limit": limits.get(r)}
                          for r in sorted(set(usage) | set(limits))],
            "breaches": breaches.get(ext, []),
        })
    return out
