"""The run directory as types: the one contract between load, analysis and reports.

`reports/<run-id>/` holds run.json (`Manifest`), intervals.jsonl (`IntervalRecord`),
events.jsonl (`Event`, `EventKind`), ledger.jsonl (`LedgerEntry`), readback.json
(`ReadBack`), memory.jsonl (`MemorySample`), cache.jsonl (`CacheRecord`), cache-policy.json
(`CachePolicy`), profile.json (`Profile`) and summary.json (`Summary`); docs/run-directory.md
documents every field.
Readers and writers live here, once. The HdrHistogram configuration and blob codec are in
`harness.rundir.histograms` and `harness.rundir.hdr` (they load numpy, so they are not
imported here: importing this package stays cheap).
"""

from __future__ import annotations

from harness.rundir.cache import (
    CACHE,
    CACHE_POLICY,
    CachePolicy,
    CacheRecord,
    TierWindows,
    read_cache,
    read_cache_policy,
)
from harness.rundir.events import (
    Event,
    EventKind,
    FaultPayload,
    Payload,
    WorkerPayload,
    of_kind,
    read_events,
)
from harness.rundir.fields import JSONObject, RecordError
from harness.rundir.files import (
    EVENTS,
    INTERVALS,
    JUNIT,
    LEDGER,
    REPORT,
    RUN_JSON,
    SCHEMA_VERSION,
    SUMMARY,
    JsonlAppender,
    RunDir,
    iter_jsonl,
    new_run_id,
    read_json,
    write_json_atomic,
)
from harness.rundir.intervals import (
    FINE_SLOT_S,
    FINE_SLOTS,
    INTERVAL_S,
    IntervalRecord,
    read_intervals,
)
from harness.rundir.ledger import (
    ATTACK,
    READBACK,
    AttackRecord,
    LedgerEntry,
    ReadBack,
    read_attacks,
    read_ledger,
    read_readback,
)
from harness.rundir.manifest import Manifest, RunKind, RunStatus, read_manifest
from harness.rundir.memory import MEMORY, MemorySample, read_memory
from harness.rundir.metrics import Latency, Metrics
from harness.rundir.profile import (
    PROFILE,
    Plan,
    Profile,
    ProfileSource,
    Recommendation,
    StatementStat,
    read_profile,
    write_profile,
)
from harness.rundir.recovery import Recovery, RunbookStep
from harness.rundir.summary import (
    Abort,
    Summary,
    ThresholdRow,
    Verdict,
    as_summary,
    read_summary,
    write_summary_file,
)

__all__ = [
    "ATTACK",
    "CACHE",
    "CACHE_POLICY",
    "EVENTS",
    "FINE_SLOTS",
    "FINE_SLOT_S",
    "INTERVALS",
    "INTERVAL_S",
    "JUNIT",
    "LEDGER",
    "MEMORY",
    "PROFILE",
    "READBACK",
    "REPORT",
    "RUN_JSON",
    "SCHEMA_VERSION",
    "SUMMARY",
    "Abort",
    "AttackRecord",
    "CachePolicy",
    "CacheRecord",
    "Event",
    "EventKind",
    "FaultPayload",
    "IntervalRecord",
    "JSONObject",
    "JsonlAppender",
    "Latency",
    "LedgerEntry",
    "Manifest",
    "MemorySample",
    "Metrics",
    "Payload",
    "Plan",
    "Profile",
    "ProfileSource",
    "ReadBack",
    "Recommendation",
    "RecordError",
    "Recovery",
    "RunDir",
    "RunKind",
    "RunStatus",
    "RunbookStep",
    "StatementStat",
    "Summary",
    "ThresholdRow",
    "TierWindows",
    "Verdict",
    "WorkerPayload",
    "as_summary",
    "iter_jsonl",
    "new_run_id",
    "of_kind",
    "read_attacks",
    "read_cache",
    "read_cache_policy",
    "read_events",
    "read_intervals",
    "read_json",
    "read_ledger",
    "read_manifest",
    "read_memory",
    "read_profile",
    "read_readback",
    "read_summary",
    "write_json_atomic",
    "write_profile",
    "write_summary_file",
]
