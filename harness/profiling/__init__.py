"""Where a run's database time goes: statement tables, plans, verified index advice.

`ServiceStatements` reads the reference service's own statement timings (GET
/admin/statements) at the start and end of the measured window; `PgStatStatements` does the
same through `pg_stat_statements` for a PostgreSQL given by `--profile-dsn`; `advise_sqlite`
and `advise_postgresql` explain the costliest statements, propose an index for each full scan
on a filtered or sorted column and keep only those that measurably help on a scratch copy.
Results are a `harness.rundir.ProfileSource` each, written to profile.json
(docs/profiling.md). This package reads no load, runner, service or report code.
"""

from __future__ import annotations
