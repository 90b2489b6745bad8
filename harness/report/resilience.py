"""Report sections about resilience: recovery and runbook, service counters, workers.

The recovery figures come from summary.json's `recovery` (harness.analysis.recovery); the
runbook merges its steps with the fault events of the timeline. Service counters come from
`service-stats.json` or the last `service_stats` event, plus the 401/403 responses the load
users saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.report.formatting import (
    DASH,
    fmt_count,
    fmt_offset,
    fmt_seconds,
    fmt_share,
    fmt_value,
)
from harness.report.sections import Fact, Json, Row, Table, global_thresholds, number
from harness.rundir import read_json

SERVICE_STATS = "service-stats.json"
_RUNBOOK_KINDS = {
    "fault_injected": "fault injected",
    "fault_cleared": "fault cleared",
    "fault_failed": "fault failed",
    "steady_state": "steady-state check",
}


@dataclass(frozen=True)
class RecoverySection:
    """Recovery figures against objectives, the runbook as executed, and warnings."""

    fault: str
    figures: tuple[Fact, ...]
    runbook: Table
    warnings: tuple[str, ...]


def build_recovery(summary: Json, events: Sequence[Json], t0: float) -> RecoverySection | None:
    """The recovery section, or None for a plain load run (no recovery, no fault events)."""
    recovery: Json = summary.get("recovery") or {}
    fault_events = [e for e in events if str(e.get("kind", "")).startswith("fault_")]
    if not recovery and not fault_events:
        return None
    fault = recovery.get("fault") or {}
    name = fault.get("type") or next((e.get("fault") for e in fault_events), None) or "fault"
    detail = fault.get("detail") or ""
    label = f"{name} ({detail})" if detail else str(name)
    return RecoverySection(
        fault=label,
        figures=_recovery_figures(recovery, summary, t0),
        runbook=_runbook(recovery, events, t0),
        warnings=tuple(str(w) for w in recovery.get("warnings") or ()),
    )


def _objective(
    recovery: Json, summary: Json, key: str | None, verdict: str | None, *metrics: str
) -> tuple[str, bool | None]:
    """(objective text, met?) from the scenario's objectives and recovery thresholds."""
    texts: list[str] = []
    oks: list[bool] = []
    limit = number((recovery.get("objectives") or {}).get(key)) if key else None
    if limit is not None:
        texts.append(f"≤ {fmt_seconds(limit)}" if key != "rpo_s" or limit else "no loss")
        found = (recovery.get("verdicts") or {}).get(verdict) if verdict else None
        if found is not None:
            oks.append(bool(found))
    for metric in metrics:
        for t in global_thresholds(summary, metric):
            texts.append(f"{t.get('op', '')} {fmt_value(number(t.get('limit')), t.get('unit'))}")
            oks.append(bool(t.get("ok")))
    return (" and ".join(texts) or DASH), (all(oks) if oks else None)


def _recovery_figures(recovery: Json, summary: Json, t0: float) -> tuple[Fact, ...]:
    if not recovery:
        return (Fact("Recovery", "not measured (no summary.recovery)", None),)
    facts = _timing_figures(recovery, summary, t0)
    facts.extend(_impact_figures(recovery))
    facts.extend(_data_loss_figures(recovery, summary))
    facts.extend(_breach_figures(recovery, summary))
    if recovery.get("steady_before") is not None:
        facts.append(
            Fact(
                "Steady state before injection",
                "held" if recovery["steady_before"] else "did not hold",
                bool(recovery["steady_before"]),
                str(recovery.get("steady_before_detail") or ""),
            )
        )
    return tuple(facts)


def _timing_figures(recovery: Json, summary: Json, t0: float) -> list[Fact]:
    """Injection, RTO, time to detect and outage, against their objectives."""
    facts: list[Fact] = []
    injected = number(recovery.get("t_injected"))
    cleared = number(recovery.get("t_cleared"))
    facts.append(
        Fact(
            "Fault injected",
            fmt_offset(None if injected is None else injected - t0),
            detail=f"cleared {fmt_offset(cleared - t0)}" if cleared else "not cleared",
        )
    )
    rto_s = number(recovery.get("rto_s"))
    objective, ok = _objective(recovery, summary, "rto_s", "rto", "rto")
    if ok is None and "recovered" in (recovery.get("verdicts") or {}):
        ok = bool(recovery["verdicts"]["recovered"])
    window = number(recovery.get("window_s"))
    facts.append(
        Fact(
            "RTO (recovery time)",
            fmt_seconds(rto_s) if rto_s is not None else "not recovered",
            ok,
            f"steady state held for {fmt_seconds(window)} windows" if window else "",
            objective,
        )
    )
    detected_by = recovery.get("detected_by")
    objective, ok = _objective(recovery, summary, None, None, "ttd")
    facts.append(
        Fact(
            "Time to detect",
            fmt_seconds(number(recovery.get("ttd_s"))),
            ok,
            f"first {detected_by}" if detected_by else "",
            objective,
        )
    )
    objective, ok = _objective(recovery, summary, None, None, "outage")
    facts.append(
        Fact(
            "User-visible outage",
            fmt_seconds(number(recovery.get("outage_s"))),
            ok,
            "first to last failure after injection",
            objective,
        )
    )
    return facts


def _impact_figures(recovery: Json) -> list[Fact]:
    """What the load users went through while the service was observed."""
    facts: list[Fact] = []
    requests, failures = recovery.get("requests"), recovery.get("failures")
    if requests is not None:
        share = fmt_share((failures or 0) / requests) if requests else DASH
        facts.append(
            Fact(
                "Failures while observed",
                f"{fmt_count(failures)} of {fmt_count(requests)}",
                detail=share,
            )
        )
    budget = number(recovery.get("error_budget_used"))
    if budget is not None:
        # information, not an objective: no threshold judges it, so it is not marked
        facts.append(Fact("Error budget used", fmt_share(budget)))
    return facts


def _data_loss_figures(recovery: Json, summary: Json) -> list[Fact]:
    acknowledged = recovery.get("acknowledged_writes")
    lost = recovery.get("lost_writes")
    if acknowledged is None and lost is None:
        return []
    objective, ok = _objective(recovery, summary, "rpo_s", "rpo", "rpo")
    lost_objective, lost_ok = _objective(recovery, summary, None, None, "lost_writes")
    rpo_objective_s = number((recovery.get("objectives") or {}).get("rpo_s"))
    if lost_ok is None and lost is not None and rpo_objective_s == 0:
        lost_ok = lost == 0  # an RPO of zero promises that no write is lost
    rpo_s = number(recovery.get("rpo_s"))
    rpo_text = fmt_seconds(rpo_s) if rpo_s is not None else ("0 s" if lost == 0 else DASH)
    keys = list(recovery.get("lost_keys") or ())
    shown = ", ".join(str(k) for k in keys[:5]) + (
        f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    )
    facts = [
        Fact(
            "RPO (data-loss window)", rpo_text, ok, "oldest lost write before injection", objective
        ),
        Fact(
            "Lost acknowledged writes",
            f"{fmt_count(lost)} of {fmt_count(acknowledged)}",
            lost_ok,
            shown,
            lost_objective,
        ),
    ]
    unknown = recovery.get("unknown_writes")
    if unknown is not None and lost is not None and acknowledged is not None:
        present = int(acknowledged) - int(lost) - int(unknown)
        facts.append(
            Fact(
                "Read-back: present / lost / unknown",
                f"{fmt_count(present)} / {fmt_count(lost)} / {fmt_count(unknown)}",
                None,
                "unknown: the check itself failed (RPO not given)" if unknown else "",
            )
        )
    return facts


def _breach_figures(recovery: Json, summary: Json) -> list[Fact]:
    if recovery.get("containment_s") is None and recovery.get("forged_requests") is None:
        return []
    objective, ok = _objective(recovery, summary, "containment_s", "containment", "containment")
    facts = [
        Fact(
            "Time to containment",
            fmt_seconds(number(recovery.get("containment_s"))),
            ok,
            "last successful forged request",
            objective,
        )
    ]
    unauthorized = recovery.get("unauthorized_ok")
    objective, ok = _objective(recovery, summary, None, None, "unauthorized_ok")
    facts.append(
        Fact(
            "Forged requests that succeeded",
            f"{fmt_count(unauthorized)} of {fmt_count(recovery.get('forged_requests'))}",
            ok,
            "",
            objective,
        )
    )
    after = recovery.get("forged_ok_after_containment")
    if after is not None:
        facts.append(Fact("…after containment", fmt_count(after), after == 0))
    legit = recovery.get("legit_requests_during_rotation")
    if legit is not None:
        errors = recovery.get("legit_errors_during_rotation") or 0
        facts.append(
            Fact(
                "Legitimate errors during key rotation",
                f"{fmt_count(errors)} of {fmt_count(legit)}",
            )
        )
    return facts


def _runbook(recovery: Json, events: Sequence[Json], t0: float) -> Table:
    """Fault events and recovery actions in time order, relative to start and injection."""
    steps: list[tuple[float, str, str, bool | None]] = []
    actions = recovery.get("runbook")
    if actions is None:
        actions = [e for e in events if e.get("kind") == "recovery_action"]
    for step in actions:
        steps.append(
            (
                float(step["t"]),
                str(step.get("action", "")),
                str(step.get("detail", "")),
                bool(step.get("ok")),
            )
        )
    for event in events:
        kind = str(event.get("kind"))
        if kind in _RUNBOOK_KINDS:
            ok = None if kind != "steady_state" else bool(event.get("ok"))
            ok = False if kind == "fault_failed" else ok
            what = f"{_RUNBOOK_KINDS[kind]}: {event.get('fault') or event.get('phase') or ''}"
            steps.append((float(event["t"]), what.rstrip(": "), str(event.get("detail") or ""), ok))
    steps.sort(key=lambda s: s[0])
    injected = number(recovery.get("t_injected"))
    rows = []
    for t, action, detail, ok in steps:
        since = DASH if injected is None else fmt_offset(t - injected).replace("+", "T+", 1)
        result = DASH if ok is None else ("ok" if ok else "FAILED")
        rows.append(Row((fmt_offset(t - t0), since, action, detail, result), ok=ok))
    return Table(("At", "Since injection", "Step", "Detail", "Result"), tuple(rows))


@dataclass(frozen=True)
class ServiceSection:
    """Edge-cache and access-control counters of the reference service."""

    source: str
    cdn: tuple[Fact, ...]
    auth: tuple[Fact, ...]
    by_endpoint: Table


def read_service_stats(run_dir: Path, events: Sequence[Json]) -> tuple[Json | None, str]:
    """(stats, source): `service-stats.json` if present, else the last `service_stats` event."""
    path = run_dir / SERVICE_STATS
    if path.is_file():
        try:
            data = read_json(path)
        except (OSError, ValueError):
            data = None
        if isinstance(data, Mapping):
            return data, SERVICE_STATS
    found = [e for e in events if e.get("kind") == "service_stats"]
    if found:
        return max(found, key=lambda e: float(e["t"])), "the last service_stats event"
    return None, ""


def build_service(
    run: Json, summary: Json, stats: Json | None, source: str
) -> ServiceSection | None:
    """CDN and RBAC counters, or None when the target is not the reference service."""
    errors: Json = (summary.get("totals") or {}).get("errors") or {}
    seen = {code: int(errors.get(code) or 0) for code in ("401", "403")}
    reference = bool(run.get("embedded_service") or run.get("topology"))
    if stats is None and not reference and not any(seen.values()):
        return None
    cdn: Json = (stats or {}).get("cdn") or {}
    auth: Json = (stats or {}).get("auth") or {}
    return ServiceSection(
        source=source,
        cdn=_cdn_facts(cdn),
        auth=(
            Fact("401 counted by the service", fmt_count(auth.get("unauthorized"))),
            Fact("403 counted by the service", fmt_count(auth.get("forbidden"))),
            Fact("401 seen by load users", fmt_count(seen["401"])),
            Fact("403 seen by load users", fmt_count(seen["403"])),
        ),
        by_endpoint=_auth_by_endpoint(summary),
    )


def _cdn_facts(cdn: Json) -> tuple[Fact, ...]:
    if not cdn:
        return ()
    counts = {k: int(cdn.get(k) or 0) for k in ("hits", "misses", "stale", "bypass")}
    cacheable = counts["hits"] + counts["misses"] + counts["stale"]
    ratio = (counts["hits"] + counts["stale"]) / cacheable if cacheable else None
    return (
        Fact("Hits", fmt_count(counts["hits"])),
        Fact("Misses", fmt_count(counts["misses"])),
        Fact("Stale served", fmt_count(counts["stale"])),
        Fact("Bypass (no-store)", fmt_count(counts["bypass"])),
        Fact("Hit ratio", fmt_share(ratio), detail="(hits + stale) / cacheable requests"),
    )


def _auth_by_endpoint(summary: Json) -> Table:
    rows = []
    endpoints: Mapping[str, Json] = summary.get("endpoints") or {}
    for name in sorted(endpoints):
        errors: Json = endpoints[name].get("errors") or {}
        unauthorized, forbidden = int(errors.get("401") or 0), int(errors.get("403") or 0)
        if unauthorized or forbidden:
            rows.append(Row((name, fmt_count(unauthorized), fmt_count(forbidden))))
    return Table(("Request", "401", "403"), tuple(rows), frozenset({1, 2}))


def build_workers(run: Json, events: Sequence[Json], t0: float) -> tuple[str, Table]:
    """(one-line summary, table of worker events in time order)."""
    kinds = {"worker_joined": "joined", "worker_lost": "LOST", "worker_quit": "quit"}
    found = sorted((e for e in events if e.get("kind") in kinds), key=lambda e: float(e["t"]))
    rows = tuple(
        Row(
            (fmt_offset(float(e["t"]) - t0), str(e.get("worker") or DASH), kinds[str(e["kind"])]),
            ok=False if e["kind"] == "worker_lost" else None,
        )
        for e in found
    )
    count = {k: sum(1 for e in found if e["kind"] == k) for k in kinds}
    line = (
        f"{run.get('workers_expected', DASH)} expected · {count['worker_joined']} joined · "
        f"{count['worker_lost']} lost · {count['worker_quit']} quit"
    )
    return line, Table(("At", "Worker", "Event"), rows)
