"""The HTML incident report: one self-contained file (inline CSS and SVG, no script, no external
reference), so it opens offline, attaches to a ticket and shows the same everywhere.

A Content-Security-Policy meta tag forbids every fetch (``default-src 'none'``): should a value ever
smuggle in a URL, the browser refuses to load it. Every text from the bundle passes ``html.escape``.

The timeline bins events per extension lane (``BINS`` columns), so a bundle of 100k entries draws a
few thousand rectangles rather than 100k marks. SLA bars are each scaled to their own SLA (a 5-minute
and a 24-hour deadline cannot share one linear axis).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pi_sandbox.incident.clock import PhaseState, PhaseStatus, format_duration
from pi_sandbox.incident.report_data import EventKind, ReportData

BINS: Final = 96
MAX_LANES: Final = 24
MAX_TABLE_ROWS: Final = 500
_LANE_H: Final = 34
_LEFT: Final = 170
_PLOT_W: Final = 760
_TOP: Final = 28
_COLOURS: Final = {EventKind.HOSTCALL: "#8a96a8", EventKind.DENIAL: "#d1392b", EventKind.ALERT: "#f0a000"}
_STATE_COLOURS: Final = {PhaseState.DONE: "#2e8b57", PhaseState.LATE: "#d1392b", PhaseState.PENDING: "#3b6fd8",
                         PhaseState.OVERDUE: "#d1392b", PhaseState.OPEN_ENDED: "#8a96a8"}

_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1c2330}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde6}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e3e7ee;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f3f5f9}td.mono,.mono{font-family:ui-monospace,monospace;
font-size:12px;word-break:break-all}.ok{color:#2e8b57;font-weight:600}.bad{color:#d1392b;font-weight:600}
.muted{color:#6b7485}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.facts dt{color:#6b7485}dl.facts dd{margin:0;font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
svg text{font:11px system-ui,sans-serif;fill:#1c2330}.legend span{display:inline-block;margin-right:14px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def _clock(ms: int, fine: bool) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%H:%M:%S") + (f".{ms % 1000:03d}" if fine else "")


def _bins(data: ReportData, lanes: Sequence[str], t0: int, span: int) -> dict[tuple[str, EventKind], list[int]]:
    counts = {(lane, kind): [0] * BINS for lane in lanes for kind in EventKind}
    for event in data.events:
        if event.lane in lanes:
            index = min(BINS - 1, (event.ts_ms - t0) * BINS // span)
            counts[(event.lane, event.kind)][index] += 1
    return counts


def timeline_svg(data: ReportData) -> str:
    """The timeline plot: a lane per extension, binned hostcalls (grey), denials (red), alerts (amber)."""
    lanes = data.lanes[:MAX_LANES]
    if not data.events:
        return '<p class="muted" id="timeline-empty">No hostcalls or alerts in this evidence.</p>'
    t0 = min(e.ts_ms for e in data.events)
    t1 = max([e.ts_ms for e in data.events] + [m.ts_ms for m in data.milestones if m.ts_ms >= t0])
    span = max(1, t1 - t0 + 1)
    counts = _bins(data, lanes, t0, span)
    peak = max(1, max(max(v) for (_, kind), v in counts.items() if kind is not EventKind.ALERT))
    width, height = _LEFT + _PLOT_W + 20, _TOP + _LANE_H * len(lanes) + 40
    bin_w = _PLOT_W / BINS
    parts = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="hostcalls, denials and alerts per extension">']
    for row, lane in enumerate(lanes):
        y = _TOP + row * _LANE_H
        parts.append(f'<rect x="{_LEFT}" y="{y}" width="{_PLOT_W}" height="{_LANE_H - 4}" fill="#f6f7fa"/>')
        parts.append(f'<text x="{_LEFT - 8}" y="{y + _LANE_H / 2}" text-anchor="end">{_e(lane[:26])}</text>')
        for kind in (EventKind.HOSTCALL, EventKind.DENIAL):
            for i, n in enumerate(counts[(lane, kind)]):
                if n:
                    h = max(2.0, (_LANE_H - 8) * n / peak)
                    parts.append(f'<rect class="mark {kind.value}" x="{_LEFT + i * bin_w:.1f}" '
                                 f'y="{y + _LANE_H - 4 - h:.1f}" width="{max(1.0, bin_w - 1):.1f}" height="{h:.1f}" '
                                 f'fill="{_COLOURS[kind]}"><title>{_e(lane)}: {n} {kind.value}'
                                 f'{"s" if n != 1 else ""}</title></rect>')
        for i, n in enumerate(counts[(lane, EventKind.ALERT)]):
            if n:
                parts.append(f'<circle class="mark alert" cx="{_LEFT + (i + 0.5) * bin_w:.1f}" cy="{y + 6}" r="4.5" '
                             f'fill="{_COLOURS[EventKind.ALERT]}" stroke="#7a5200"><title>{_e(lane)}: {n} alert'
                             f'{"s" if n != 1 else ""}</title></circle>')
    bottom = _TOP + _LANE_H * len(lanes)
    for mark in data.milestones:
        if t0 <= mark.ts_ms <= t1:
            x = _LEFT + (mark.ts_ms - t0) * _PLOT_W / span
            parts.append(f'<line class="milestone" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP - 6}" y2="{bottom}" '
                         f'stroke="#3b6fd8" stroke-dasharray="3 3"><title>{_e(mark.label)} at '
                         f'{_iso(mark.ts_ms)}</title></line>')
    fine = span < 10_000  # sub-second ticks for a short burst
    for k in range(5):
        x = _LEFT + k * _PLOT_W / 4
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 5}" stroke="#6b7485"/>')
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="{anchor}">'
                     f'{_clock(t0 + span * k // 4, fine)}</text>')
    parts.append(f'<text x="{_LEFT}" y="14">time (UTC, {_iso(t0)[:10]}) →   bar height: events per bin, '
                 f'peak {peak}; {BINS} bins of {format_duration(max(1, span // BINS))}</text>')
    parts.append("</svg>")
    more = len(data.lanes) - len(lanes)
    legend = "".join(f'<span><i class="swatch" style="background:{_COLOURS[k]}"></i>{k.value}s</span>'
                     for k in EventKind)
    legend += '<span><i class="swatch" style="background:#3b6fd8"></i>containment / phase done</span>'
    note = f'<p class="muted">{more} quieter lanes not shown.</p>' if more > 0 else ""
    return "".join(parts) + f'<p class="legend">{legend}</p>{note}'


def sla_svg(phases: Sequence[PhaseStatus]) -> str:
    """One bar per phase with an SLA: time used against the SLA (the line at 100%), coloured by state."""
    rows = [p for p in phases if p.sla_ms]
    if not rows:
        return ""
    track = _PLOT_W * 0.45  # the SLA line; the track runs to 150 % to show lateness, the label after it
    width = _LEFT + _PLOT_W + 20
    height = 20 + 30 * len(rows)
    parts = [f'<svg id="sla" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="phase SLA bars">']
    for row, status in enumerate(rows):
        y = 10 + row * 30
        sla = int(status.sla_ms or 1)
        start = int(status.due_ms or 0) - sla  # detection
        used = status.done_ms - start if status.done_ms is not None else sla - int(status.remaining_ms or 0)
        fraction = max(0.0, min(1.5, used / sla))
        label = {PhaseState.DONE: f"done in {format_duration(used)} of {format_duration(sla)}",
                 PhaseState.LATE: f"done late: {format_duration(used)} of {format_duration(sla)}",
                 PhaseState.PENDING: f"{format_duration(int(status.remaining_ms or 0))} left of {format_duration(sla)}",
                 PhaseState.OVERDUE: f"overdue by {format_duration(-int(status.remaining_ms or 0))}",
                 }.get(status.state, "")
        colour = _STATE_COLOURS[status.state]
        parts.append(f'<text x="{_LEFT - 8}" y="{y + 14}" text-anchor="end">{_e(status.phase.value)}</text>')
        parts.append(f'<rect x="{_LEFT}" y="{y}" width="{track * 1.5:.1f}" height="20" fill="#f0f2f6"/>')
        parts.append(f'<rect class="sla-bar {status.state.value}" x="{_LEFT}" y="{y}" '
                     f'width="{max(2.0, track * fraction):.1f}" height="20" fill="{colour}" fill-opacity="0.8">'
                     f'<title>{_e(status.phase.value)}: {_e(label)}</title></rect>')
        parts.append(f'<line x1="{_LEFT + track:.1f}" x2="{_LEFT + track:.1f}" y1="{y - 3}" y2="{y + 23}" '
                     f'stroke="#1c2330" stroke-width="2"/>')
        parts.append(f'<text x="{_LEFT + track * 1.5 + 8:.1f}" y="{y + 14}">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]], table_id: str,
           mono: frozenset[str] = frozenset()) -> str:
    items = list(rows)
    if not items:
        return f'<p class="muted" id="{table_id}-empty">None.</p>'
    head = "".join(f"<th>{_e(title)}</th>" for _, title in columns)
    body = []
    for row in items[:MAX_TABLE_ROWS]:
        cells = []
        for key, _ in columns:
            value = _iso(row.get("ts_ms")) if key == "ts_ms" else row.get(key)
            cls = ' class="mono"' if key in mono else ""
            cells.append(f"<td{cls}>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="muted">{len(items) - MAX_TABLE_ROWS} more rows in the bundle.</p>'
            if len(items) > MAX_TABLE_ROWS else "")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def _verification(lines: Sequence[Any]) -> str:
    if not lines:
        return '<p class="muted">Not verified.</p>'
    rows = []
    for line in lines:
        status = ('<span class="ok">pass</span>' if line.ok else '<span class="muted">not run</span>'
                  if line.ok is None else '<span class="bad">FAIL</span>')
        rows.append(f"<tr><td>{_e(line.name)}</td><td>{status}</td><td>{_e(line.detail)}</td></tr>")
    return ('<table id="verification"><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render_html(data: ReportData) -> str:
    """The report as one HTML document (UTF-8 text)."""
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in data.facts)
    counts = ", ".join(f"{_e(k)}: {v}" for k, v in sorted(data.counts.items()))
    sla = ""
    if data.phases:
        phase_rows = [{"phase": p.phase.value, "state": p.state.value, "due": _iso(p.due_ms),
                       "done": _iso(p.done_ms), "actions": p.actions} for p in data.phases]
        sla = ("<h2>Phases against the runbook's SLAs</h2>" + sla_svg(data.phases)
               + _table(phase_rows, [("phase", "phase"), ("state", "state"), ("due", "due"), ("done", "done"),
                                     ("actions", "runbook actions")], "phases"))
    alert_cols = [("ts_ms", "time"), ("severity", "severity"), ("category", "category"),
                  ("extension_id", "extension"), ("action", "action"), ("summary", "summary")]
    exec_cols = [("ts_ms", "time"), ("extension_id", "extension"), ("decision", "decision"),
                 ("command_class", "class"), ("risk_tier", "tier"), ("rule", "rule"), ("command_hash", "command hash")]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_e(data.title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f'<h1>{_e(data.title)}</h1><p class="muted">generated {_iso(data.generated_ms)}</p>'
        f'<dl class="facts">{facts}</dl>'
        f'<h2>Verification</h2>{_verification(data.verification)}'
        f'{sla}<h2>Timeline</h2>{timeline_svg(data)}'
        f'<h2>Alerts ({len(data.alerts)})</h2>{_table(data.alerts, alert_cols, "alerts")}'
        f'<h2>Exec decisions ({len(data.exec_decisions)})</h2>'
        f'{_table(data.exec_decisions, exec_cols, "exec", frozenset({"command_hash"}))}'
        f'<h2>Section counts</h2><p class="mono">{counts or "none"}</p>'
        "</body></html>\n"
    )
