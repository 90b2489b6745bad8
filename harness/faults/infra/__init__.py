"""Faults on real infrastructure a user runs, each tested here against the real thing:

- `process`: signal the processes found by pid file, command-line pattern or systemd unit;
- `postgres`: terminate (or cancel) every client backend of a PostgreSQL server;
- `patroni_failover`: the reference deployment's PostgreSQL leader lost (docs/postgresql.md);
- `postgres_corruption`: a relation file corrupted on its leader, repaired by PITR;
- `patroni`: a switchover, failover, restart or pause through a Patroni cluster's REST API;
- `toxiproxy`: add a toxic through a Toxiproxy server's HTTP API (or our router's, which
  speaks the same subset), remove it at clear.

docs/faults.md documents every parameter.
"""

INFRA_FAULTS: dict[str, str] = {
    "process": "harness.faults.infra.process:ProcessFault.from_params",
    "postgres": "harness.faults.infra.postgres:PostgresFault.from_params",
    "patroni_failover": "harness.faults.infra.patroni:PatroniFailoverFault.from_params",
    "postgres_corruption": "harness.faults.infra.pg_corruption:PostgresCorruptionFault.from_params",
    "toxiproxy": "harness.faults.infra.toxiproxy:ToxiproxyFault.from_params",
    "patroni": "harness.faults.infra.patroni_rest:PatroniFault.from_params",
}
"""Fault type → the `module:factory` path `build_fault` imports when the type is used."""
