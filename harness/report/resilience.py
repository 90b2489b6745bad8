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

from harness.errors import ConfigError
from harness.report.formatting import (
    DASH,
    fmt_count,
    fmt_offset,
    fmt_seconds,
    fmt_share,
    fmt_value,
)
from harness.report.sections import Fact, Row, Table, global_thresholds
from harness.rundir import Event, EventKind, Manifest, Recovery, Summary, of_kind, read_json
from harness.rundir.service_stats import SERVICE_STATS_FILE, CdnCounters, ServiceStats

_RUNBOOK_KINDS = {
    EventKind.FAULT_INJECTED: "fault injected",
    EventKind.FAULT_CLEARED: "fault cleared",
    EventKind.FAULT_FAILED: "fault failed",
    EventKind.STEADY_STATE: "steady-state check",
}
_FAULT_KINDS = (
    EventKind.FAULT_INJECTED,
    EventKind.FAULT_CLEARED,
    EventKind.FAULT_FAILED,
    EventKind.FAULT_EFFECT,
)


@dataclass(frozen=True)
class RecoverySection:
    """Recovery figures against objectives, the runbook as executed, and warnings."""

    fault: str
    figures: tuple[Fact, ...]
    runbook: Table
    warnings: tuple[str, ...]


def build_recovery(summary: Summary, events: Sequence[Event], t0: float) -> RecoverySection | None:
    """The recovery section, or None for a plain load run (no recovery, no fault events)."""
    recovery = summary.recovery
    fault_events = of_kind(events, *_FAULT_KINDS)
    if recovery is None and not fault_events:
        return None
    first_fault = next((e.text("fault") for e in fault_events), None)
    name = (recovery.fault_type if recovery else None) or first_fault or "fault"
    detail = (recovery.fault_detail if recovery else None) or ""
    label = f"{name} ({detail})" if detail else name
    return RecoverySection(
        fault=label,
        figures=_recovery_figures(recovery, summary, t0),
        runbook=_runbook(recovery, events, t0),
        warnings=recovery.warnings if recovery else (),
    )


def _objective(
    recovery: Recovery, summary: Summary, key: str | None, verdict: str | None, *metrics: str
) -> tuple[str, bool | None]:
    """(objective text, met?) from the scenario's objectives and recovery thresholds."""
    texts: list[str] = []
    oks: list[bool] = []
    limit = recovery.objective(key) if key else None
    if limit is not None:
        texts.append(f"≤ {fmt_seconds(limit)}" if key != "rpo_s" or limit else "no loss")
        found = recovery.verdict(verdict) if verdict else None
        if found is not None:
            oks.append(found)
    for metric in metrics:
        for t in global_thresholds(summary, metric):
            texts.append(f"{t.op} {fmt_value(t.limit, t.unit)}")
            oks.append(t.ok)
    return (" and ".join(texts) or DASH), (all(oks) if oks else None)


def _recovery_figures(recovery: Recovery | None, summary: Summary, t0: float) -> tuple[Fact, ...]:
    if recovery is None:
        return (Fact("Recovery", "not measured (no summary.recovery)", None),)
    facts = _timing_figures(recovery, summary, t0)
    facts.extend(_impact_figures(recovery))
    facts.extend(_data_loss_figures(recovery, summary))
    facts.extend(_breach_figures(recovery, summary))
    if recovery.steady_before is not None:
        facts.append(
            Fact(
                "Steady state before injection",
                "held" if recovery.steady_before else "did not hold",
                recovery.steady_before,
                recovery.steady_before_detail or "",
            )
        )
    return tuple(facts)


def _timing_figures(recovery: Recovery, summary: Summary, t0: float) -> list[Fact]:
    """Injection, RTO, time to detect and outage, against their objectives."""
    facts: list[Fact] = []
    injected, cleared = recovery.t_injected, recovery.figure("t_cleared")
    facts.append(
        Fact(
            "Fault injected",
            fmt_offset(None if injected is None else injected - t0),
            detail=f"cleared {fmt_offset(cleared - t0)}" if cleared else "not cleared",
        )
    )
    rto_s = recovery.rto_s
    objective, ok = _objective(recovery, summary, "rto_s", "rto", "rto")
    if ok is None:
        ok = recovery.verdict("recovered")
    window = recovery.figure("window_s")
    facts.append(
        Fact(
            "RTO (recovery time)",
            fmt_seconds(rto_s) if rto_s is not None else "not recovered",
            ok,
            f"steady state held for {fmt_seconds(window)} windows" if window else "",
            objective,
        )
    )
    detected_by = recovery.detected_by
    objective, ok = _objective(recovery, summary, None, None, "ttd")
    facts.append(
        Fact(
            "Time to detect",
            fmt_seconds(recovery.figure("ttd_s")),
            ok,
            f"first {detected_by}" if detected_by else "",
            objective,
        )
    )
    objective, ok = _objective(recovery, summary, None, None, "outage")
    facts.append(
        Fact(
            "User-visible outage",
            fmt_seconds(recovery.figure("outage_s")),
            ok,
            "first to last failure after injection",
            objective,
        )
    )
    return facts


def _impact_figures(recovery: Recovery) -> list[Fact]:
    """What the load users went through while the service was observed."""
    facts: list[Fact] = []
    requests, failures = recovery.count("requests"), recovery.count("failures")
    if requests is not None:
        share = fmt_share((failures or 0) / requests) if requests else DASH
        facts.append(
            Fact(
                "Failures while observed",
                f"{fmt_count(failures)} of {fmt_count(requests)}",
                detail=share,
            )
        )
    budget = recovery.figure("error_budget_used")
    if budget is not None:
        # information, not an objective: no threshold judges it, so it is not marked
        facts.append(Fact("Error budget used", fmt_share(budget)))
    return facts


def _data_loss_figures(recovery: Recovery, summary: Summary) -> list[Fact]:
    acknowledged = recovery.count("acknowledged_writes")
    lost = recovery.lost_writes
    if acknowledged is None and lost is None:
        return []
    objective, ok = _objective(recovery, summary, "rpo_s", "rpo", "rpo")
    lost_objective, lost_ok = _objective(recovery, summary, None, None, "lost_writes")
    if lost_ok is None and lost is not None and recovery.objective("rpo_s") == 0:
        lost_ok = lost == 0  # an RPO of zero promises that no write is lost
    rpo_s = recovery.rpo_s
    rpo_text = fmt_seconds(rpo_s) if rpo_s is not None else ("0 s" if lost == 0 else DASH)
    keys = recovery.lost_keys
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
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
    unknown = recovery.count("unknown_writes")
    if unknown is not None and lost is not None and acknowledged is not None:
        present = acknowledged - lost - unknown
        facts.append(
            Fact(
                "Read-back: present / lost / unknown",
                f"{fmt_count(present)} / {fmt_count(lost)} / {fmt_count(unknown)}",
                None,
                "unknown: the check itself failed (RPO not given)" if unknown else "",
            )
        )
    return facts


def _breach_figures(recovery: Recovery, summary: Summary) -> list[Fact]:
    if recovery.figure("containment_s") is None and recovery.figure("forged_requests") is None:
        return []
    objective, ok = _objective(recovery, summary, "containment_s", "containment", "containment")
    facts = [
        Fact(
            "Time to containment",
            fmt_seconds(recovery.figure("containment_s")),
            ok,
            "last successful forged request",
            objective,
        )
    ]
    objective, ok = _objective(recovery, summary, None, None, "unauthorized_ok")
    facts.append(
        Fact(
            "Forged requests that succeeded",
            f"{fmt_count(recovery.count('unauthorized_ok'))} of "
            f"{fmt_count(recovery.count('forged_requests'))}",
            ok,
            "",
            objective,
        )
    )
    after = recovery.count("forged_ok_after_containment")
    if after is not None:
        facts.append(Fact("…after containment", fmt_count(after), after == 0))
    legit = recovery.count("legit_requests_during_rotation")
    if legit is not None:
        errors = recovery.count("legit_errors_during_rotation") or 0
        facts.append(
            Fact(
                "Legitimate errors during key rotation",
                f"{fmt_count(errors)} of {fmt_count(legit)}",
            )
        )
    return facts


def _runbook(recovery: Recovery | None, events: Sequence[Event], t0: float) -> Table:
    """Fault events and recovery actions in time order, relative to start and injection."""
    steps: list[tuple[float, str, str, bool | None]] = []
    if recovery is not None and "runbook" in recovery.raw:
        steps += [(s.t, s.action, s.detail or "", s.ok) for s in recovery.runbook]
    else:
        for done in of_kind(events, EventKind.RECOVERY_ACTION):
            text = done.text("action") or ""
            steps.append((done.t, text, done.text("detail") or "", bool(done.flag("ok"))))
    for event in of_kind(events, *_RUNBOOK_KINDS):
        kind = event.kind
        judged = None if kind is not EventKind.STEADY_STATE else bool(event.flag("ok"))
        judged = False if kind is EventKind.FAULT_FAILED else judged
        what = f"{_RUNBOOK_KINDS[kind]}: {event.text('fault') or event.text('phase') or ''}"
        steps.append((event.t, what.rstrip(": "), event.text("detail") or "", judged))
    steps.sort(key=lambda step: step[0])
    injected = recovery.t_injected if recovery is not None else None
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


def read_service_stats(run_dir: Path, events: Sequence[Event]) -> tuple[ServiceStats | None, str]:
    """(stats, source): `service-stats.json` if present, else the last `service_stats` event."""
    path = run_dir / SERVICE_STATS_FILE
    if path.is_file():
        try:
            data = read_json(path)
            if isinstance(data, Mapping):
                return ServiceStats.from_dict(data, str(path)), SERVICE_STATS_FILE
        except (OSError, ValueError, ConfigError):
            pass  # unreadable: the event, when there is one, says the same
    found = of_kind(events, EventKind.SERVICE_STATS)
    if found:
        stats = ServiceStats.from_dict(found[-1].to_dict(), "events.jsonl: service_stats")
        return stats, "the last service_stats event"
    return None, ""


def build_service(
    run: Manifest, summary: Summary, stats: ServiceStats | None, source: str
) -> ServiceSection | None:
    """CDN and RBAC counters, or None when the target is not the reference service."""
    seen = {code: summary.totals.error_count(code) for code in ("401", "403")}
    reference = run.embedded_service or bool(run.topology)
    if stats is None and not reference and not any(seen.values()):
        return None
    return ServiceSection(
        source=source,
        cdn=_cdn_facts(stats.cdn if stats is not None else None),
        auth=(
            Fact(
                "401 counted by the service",
                fmt_count(stats.auth_count("unauthorized") if stats else None),
            ),
            Fact(
                "403 counted by the service",
                fmt_count(stats.auth_count("forbidden") if stats else None),
            ),
            Fact("401 seen by load users", fmt_count(seen["401"])),
            Fact("403 seen by load users", fmt_count(seen["403"])),
        ),
        by_endpoint=_auth_by_endpoint(summary),
    )


def _cdn_facts(cdn: CdnCounters | None) -> tuple[Fact, ...]:
    if cdn is None:
        return ()
    return (
        Fact("Hits", fmt_count(cdn.hits)),
        Fact("Misses", fmt_count(cdn.misses)),
        Fact("Stale served", fmt_count(cdn.stale)),
        Fact("Bypass (no-store)", fmt_count(cdn.bypass)),
        Fact("Hit ratio", fmt_share(cdn.hit_ratio), detail="(hits + stale) / cacheable requests"),
    )


def _auth_by_endpoint(summary: Summary) -> Table:
    rows = []
    for name in sorted(summary.endpoints):
        metrics = summary.endpoints[name]
        unauthorized, forbidden = metrics.error_count("401"), metrics.error_count("403")
        if unauthorized or forbidden:
            rows.append(Row((name, fmt_count(unauthorized), fmt_count(forbidden))))
    return Table(("Request", "401", "403"), tuple(rows), frozenset({1, 2}))


def build_workers(run: Manifest, events: Sequence[Event], t0: float) -> tuple[str, Table]:
    """(one-line summary, table of worker events in time order)."""
    kinds = {
        EventKind.WORKER_JOINED: "joined",
        EventKind.WORKER_LOST: "LOST",
        EventKind.WORKER_QUIT: "quit",
    }
    found = of_kind(events, *kinds)
    rows = tuple(
        Row(
            (fmt_offset(e.t - t0), e.text("worker") or DASH, kinds[e.kind]),
            ok=False if e.kind is EventKind.WORKER_LOST else None,
        )
        for e in found
    )
    count = {k: sum(1 for e in found if e.kind is k) for k in kinds}
    line = (
        f"{run.workers_expected} expected · {count[EventKind.WORKER_JOINED]} joined · "
        f"{count[EventKind.WORKER_LOST]} lost · {count[EventKind.WORKER_QUIT]} quit"
    )
    return line, Table(("At", "Worker", "Event"), rows)
