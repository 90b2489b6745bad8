"""Read-back of acknowledged writes after recovery, by the adapter the scenario names.

- `spec`: the `[readback]` table read into `LookupSpec`, `HttpSpec` or `SqlSpec` (no I/O);
- `adapters`: `build_adapter` for a started target, `check_readback` before anything starts;
- `core`: `read_back(live, adapter, ...)`, the three states of a key, readback.json;
- `lookup`, `http_get`, `sql`: the adapters.

Importing this package loads nothing (no gevent): the runner's checks use `spec` and
`adapters` before the load engine patches the process.
"""
