"""The reference service: the system the harness tests by default.

A Falcon WSGI app (`harness.service.app.create_app`) served by granian
(`harness serve`, `harness.service.server`): items with filtering, idempotent writes in
SQLite, RBAC with JWT bearer tokens, an edge cache, health, metrics and an OpenAPI spec.
Importing this package loads nothing; import the submodule you need.
"""
