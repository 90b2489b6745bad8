"""A deliberately vulnerable notes API: one planted flaw per audit check family.

Never run it anywhere but loopback in a test. The flaws, each one the audit must find:

- API2: a token with `alg: none` is accepted (its claims are read unverified);
- API5: the `viewer` role may DELETE notes;
- API1: notes have an owner, but any role with the permission may read, change or
  delete anyone's note;
- API3: a client-set `id` is stored as given, and every note carries `owner`, which the
  spec does not declare;
- API4: `limit` has no cap, and bodies of any size are read;
- API8: authenticated lists answer `Cache-Control: public, max-age=300`, a bad JSON
  body answers 500 with the Python traceback, any Origin is allowed with credentials,
  TRACE echoes the request, and a session cookie is set without Secure or HttpOnly;
- robustness: a created note's `id` comes back as a string, not the spec's integer;
- injection: the `q` search is string-built SQL (a quote answers 500 with sqlite's error);
- data protection: a refused token is echoed in the 401 body.

Everything else is done right, so each finding is traceable to exactly one flaw: tokens
are otherwise checked by PyJWT (signature, exp, nbf, aud, iss), methods not routed get 405.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt

SECRET = "vulnerable-notes-secret-do-not-use-anywhere"
ISSUER = "notes"
AUDIENCE = "notes-api"
ROLES = ("admin", "user", "other", "viewer")
PERMISSIONS = {
    "admin": {"read", "write", "delete"},
    "user": {"read", "write", "delete"},
    "other": {"read", "write", "delete"},
    "viewer": {"read", "delete"},  # planted API5 flaw: a viewer may delete
}
SEED_NOTES = 1500
Start = Callable[[str, list[tuple[str, str]]], Any]

NOTE = {
    "type": "object",
    "required": ["id", "title", "body"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "body": {"type": "string"},
    },
}
NOTE_IN = {
    "type": "object",
    "required": ["title", "body"],
    "properties": {"title": {"type": "string", "maxLength": 100}, "body": {"type": "string"}},
}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}


def _responses(ok: str, schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        ok: {"description": "ok", "content": {"application/json": {"schema": schema}}}
    }
    for code in ("400", "401", "403", "404", "405", "413", "500"):
        out[code] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    return out


ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
BODY = {"required": True, "content": {"application/json": {"schema": NOTE_IN}}}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "vulnerable notes", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/api/notes": {
            "get": {
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": _responses(
                    "200",
                    {"type": "object", "properties": {"notes": {"type": "array", "items": NOTE}}},
                ),
            },
            "post": {"requestBody": BODY, "responses": _responses("201", NOTE)},
        },
        "/api/notes/{id}": {
            "parameters": ID,
            "get": {"responses": _responses("200", NOTE)},
            "patch": {"requestBody": BODY, "responses": _responses("200", NOTE)},
            "delete": {"responses": _responses("200", NOTE)},
        },
    },
}


class Notes:
    """The WSGI app over an in-memory SQLite database."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.lock = threading.Lock()
        self.db.execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, owner TEXT)"
        )
        self.db.executemany(
            "INSERT INTO notes (title, body, owner) VALUES (?, ?, ?)",
            [(f"note {i}", "seeded", "admin") for i in range(SEED_NOTES)],
        )

    def __call__(self, environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        try:
            status, body, headers = self.route(environ)
        except Exception:  # planted API8 flaw: the traceback goes to the client
            status, body, headers = "500 Internal Server Error", traceback.format_exc(), []
            start(status, [("Content-Type", "text/plain")])
            return [body.encode()]
        data = json.dumps(body).encode()
        origin = environ.get("HTTP_ORIGIN")
        if origin:  # planted API8 flaw: any origin, with credentials
            headers += [("Access-Control-Allow-Origin", origin)]
            headers += [("Access-Control-Allow-Credentials", "true")]
        headers.append(("Set-Cookie", "session=n0tes; Path=/"))  # planted: not Secure/HttpOnly
        start(status, [("Content-Type", "application/json"), *headers])
        return [data]

    def claims(self, environ: dict[str, Any]) -> dict[str, Any] | str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return "missing bearer token"
        token = header[7:].strip()
        try:
            if jwt.get_unverified_header(token).get("alg") == "none":  # planted API2 flaw
                return dict(jwt.decode(token, options={"verify_signature": False}))
            return dict(
                jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
            )
        except jwt.PyJWTError:
            return f"invalid token {token}"  # planted data-protection flaw: echoed

    def route(self, environ: dict[str, Any]) -> tuple[str, Any, list[tuple[str, str]]]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == "/openapi.json" and method == "GET":
            return "200 OK", SPEC, []
        if method == "TRACE":  # planted API8 flaw: TRACE echoes the request's headers
            echoed = {k: str(v) for k, v in environ.items() if k.startswith("HTTP_")}
            return "200 OK", echoed, []
        if not path.startswith("/api/notes"):
            return "404 Not Found", {"error": "not found"}, []
        match = re.fullmatch(r"/api/notes(?:/(\d+))?", path)
        if match is None:
            return "404 Not Found", {"error": "not found"}, []
        note_id = int(match.group(1)) if match.group(1) else None
        allowed = ("GET", "POST") if note_id is None else ("GET", "PATCH", "DELETE")
        if method not in allowed:
            return "405 Method Not Allowed", {"error": "method not allowed"}, []
        claims = self.claims(environ)
        if isinstance(claims, str):
            return "401 Unauthorized", {"error": claims}, []
        role = claims.get("role")
        need = {"GET": "read", "POST": "write", "PATCH": "write", "DELETE": "delete"}[method]
        if need not in PERMISSIONS.get(str(role), set()):
            return "403 Forbidden", {"error": "forbidden"}, []
        with self.lock:
            if note_id is None:
                return self.collection(environ, method, str(claims.get("sub")))
            return self.one(environ, method, note_id)

    def collection(
        self, environ: dict[str, Any], method: str, sub: str
    ) -> tuple[str, Any, list[tuple[str, str]]]:
        if method == "POST":
            body = _body(environ)
            fields = [
                body.get("id"),
                str(body["title"]),
                str(body["body"]),
                sub,
            ]  # client-set id kept
            cursor = self.db.execute(
                "INSERT INTO notes (id, title, body, owner) VALUES (?, ?, ?, ?)", fields
            )
            created = self.get(int(cursor.lastrowid or 0)) or {}
            created["id"] = str(created.get("id"))  # planted robustness flaw: not the spec's type
            return "201 Created", created, [("Cache-Control", "no-store")]
        query = dict(
            p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p
        )
        limit = int(query.get("limit", "20"))  # planted API4 flaw: no cap
        where = ""
        if "q" in query:
            from urllib.parse import unquote_plus

            where = f"WHERE title LIKE '%{unquote_plus(query['q'])}%'"  # planted injection flaw
        rows = self.db.execute(
            f"SELECT id, title, body, owner FROM notes {where} ORDER BY id LIMIT ?", (limit,)
        )
        notes = [dict(zip(("id", "title", "body", "owner"), row, strict=True)) for row in rows]
        return "200 OK", {"notes": notes}, [("Cache-Control", "public, max-age=300")]

    def get(self, note_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT id, title, body, owner FROM notes WHERE id = ?", (note_id,)
        ).fetchone()
        return dict(zip(("id", "title", "body", "owner"), row, strict=True)) if row else None

    def one(
        self, environ: dict[str, Any], method: str, note_id: int
    ) -> tuple[str, Any, list[tuple[str, str]]]:
        note = self.get(note_id)  # planted API1 flaw: the owner is never compared
        if note is None:
            return "404 Not Found", {"error": "no such note"}, []
        if method == "PATCH":
            body = _body(environ)
            title = str(body.get("title", note["title"]))
            text = str(body.get("body", note["body"]))
            self.db.execute(
                "UPDATE notes SET title = ?, body = ? WHERE id = ?", (title, text, note_id)
            )
            note = self.get(note_id)
        elif method == "DELETE":
            self.db.execute("DELETE FROM notes WHERE id = ?", (note_id,))
        return "200 OK", note, [("Cache-Control", "no-store")]


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length)  # planted API4 flaw: any size
    body = json.loads(raw)  # a bad body raises: the 500 with a traceback
    if not isinstance(body, dict):
        raise TypeError(f"expected an object, got {type(body).__name__}")
    return body


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve() -> tuple[_Server, str]:
    """Start the app on a free loopback port in a thread; (server, base URL)."""
    server = make_server("127.0.0.1", 0, Notes(), server_class=_Server, handler_class=_Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def token(role: str, sub: str | None = None) -> str:
    """A valid token for `role`."""
    import time

    now = int(time.time())
    claims = {"sub": sub or role, "role": role, "iat": now, "nbf": now, "exp": now + 3600,
              "iss": ISSUER, "aud": AUDIENCE, "jti": f"{role}-{now}"}  # fmt: skip
    return jwt.encode(claims, SECRET, algorithm="HS256")
