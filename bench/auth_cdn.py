"""Cost of token verification and of an edge-cache hit, in process (no network).

    /work/venv/bin/python bench/auth_cdn.py [--repeats 7] [--seconds 0.3]

Calls the WSGI app directly, so the numbers are the service's own CPU per request on one
core. Baselines measured in the same run: a bare Falcon app with one trivial route (for
requests) and a bare `jwt.decode` (for verification). Each row is the median of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import jwt

from harness.service.app import create_app
from harness.service.config import ServiceConfig
from harness.service.tokens import ALGORITHM, AUDIENCE, ISSUER, Keyring


def _rates_per_s(
    cases: Sequence[tuple[str, Callable[[], object]]], seconds: float, repeats: int
) -> list[tuple[str, float]]:
    """Median calls per second of each case; cases take turns within each repeat, so a
    noisy neighbour slows them alike."""
    rates: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(repeats):
        for label, call in cases:
            n = 0
            start = time.perf_counter()
            deadline = start + seconds
            while True:
                for _ in range(50):
                    call()
                n += 50
                now = time.perf_counter()
                if now >= deadline:
                    break
            rates[label].append(n / (now - start))
    return [(label, statistics.median(rates[label])) for label, _ in cases]


def _wsgi_call(app: Any, path: str, headers: dict[str, str] | None = None) -> Callable[[], int]:
    path, _, query = path.partition("?")
    env = falcon.testing.create_environ(path=path, query_string=query, headers=headers)
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
        statuses.append(status)

    def call() -> int:
        statuses.clear()
        body = app(dict(env), start_response)
        for _ in body:
            pass
        return int(statuses[0][:3])

    return call


class _Trivial:
    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        resp.text = "ok"


def _check(call: Callable[[], int], label: str, expected: int = 200) -> Callable[[], int]:
    status = call()
    if status != expected:
        raise SystemExit(f"{label}: expected {expected}, got {status}")
    return call


def bench_requests(data_dir: Path, seconds: float, repeats: int) -> list[tuple[str, float]]:
    """req/s of the baseline and of each path through the full app."""
    trivial = falcon.App()
    trivial.add_route("/", _Trivial())
    app = create_app(ServiceConfig(data_dir=data_dir, seed_items=1000))
    viewer = {"Authorization": "Bearer " + Keyring(data_dir).issue("viewer", "bench")}
    misses = iter(range(10**9))
    miss_app = _wsgi_call(app, "/api/items?limit=20", viewer)

    def api_miss() -> int:
        return _wsgi_call(app, f"/api/items?limit=20&offset={next(misses) % 900}", viewer)()

    cases: list[tuple[str, Callable[[], int]]] = [
        ("baseline: bare falcon, trivial route", _wsgi_call(trivial, "/")),
        ("full app GET /healthz (bypass)", _wsgi_call(app, "/healthz")),
        ("full app GET /static/app.css HIT", _wsgi_call(app, "/static/app.css")),
        ("full app GET /pages/about HIT", _wsgi_call(app, "/pages/about")),
        ("full app GET /api/items/7 HIT (+verify)", _wsgi_call(app, "/api/items/7", viewer)),
        ("full app GET /api/items?limit=20 HIT", miss_app),
        ("full app GET /api/items?... MISS", api_miss),
    ]
    for label, call in cases:
        _check(call, label)
        _check(call, label)  # second call: a hit where the path is cacheable
    return _rates_per_s(cases, seconds, repeats)


def bench_verify(data_dir: Path, seconds: float, repeats: int) -> list[tuple[str, float]]:
    """verify() calls per second, against a bare PyJWT decode of the same token."""
    keyring = Keyring(data_dir)
    token = keyring.issue("user", "bench")
    kid = keyring.active_kid()
    secret = keyring._keys[kid].secret

    def bare() -> object:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)

    def first_sight() -> object:
        keyring._verified.clear()  # as if the token were new: the full PyJWT path
        return keyring.verify(token)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("baseline: bare jwt.decode", bare),
        ("Keyring.verify, first sight (PyJWT)", first_sight),
        ("Keyring.verify, seen before (memo)", lambda: keyring.verify(token)),
    ]
    return _rates_per_s(cases, seconds, repeats)


def _table(title: str, rows: list[tuple[str, float]]) -> None:
    base = rows[0][1]
    print(f"\n{title}")
    print(f"{'case':48} {'per s':>10} {'us each':>9} {'x baseline':>11}")
    for label, rate in rows:
        print(f"{label:48} {rate:10.0f} {1e6 / rate:9.1f} {rate / base:11.2f}")


def main() -> None:
    """Run both benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _table("token verification", bench_verify(Path(tmp) / "v", args.seconds, args.repeats))
        _table(
            "requests (WSGI, in process)",
            bench_requests(Path(tmp) / "r", args.seconds, args.repeats),
        )


if __name__ == "__main__":
    main()
