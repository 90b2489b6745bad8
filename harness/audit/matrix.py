"""The access matrix an audit tests: routes × roles → expected status, owned objects, limits.

A matrix is a TOML file (`--matrix FILE`, format in docs/audit.md) read once into frozen
types; anything wrong is a ConfigError naming the file and the field. Without `--matrix`,
`reference_matrix()` builds the reference service's own table from `harness.service.rbac`,
so the default can never drift from what the service enforces.

An expected status is an integer, `"allow"` (any answer below 500 other than 401 and 403:
a 404 for an id that does not exist still proves the call was let through) or `"deny"`
(403 or 404). The pseudo-role `anonymous` is a request without a token.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.errors import ConfigError

ANONYMOUS = "anonymous"
Expect = int | str
_WORDS = ("allow", "deny")


def expectation_met(expect: Expect, status: int | None) -> bool:
    """True when `status` is what `expect` asks for (see the module docstring)."""
    if status is None:
        return False
    if expect == "allow":
        return status < 500 and status not in (401, 403)
    if expect == "deny":
        return status in (403, 404)
    return status == expect


@dataclass(frozen=True)
class Call:
    """One request of the matrix: method, path (with `{id}` for objects), optional JSON body."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    role: str | None = None


@dataclass(frozen=True)
class RouteRule:
    """A route and the status each role (and `anonymous`) must get."""

    call: Call
    expect: Mapping[str, Expect]


@dataclass(frozen=True)
class ObjectRule:
    """An object the owner role creates, to test ownership and server-owned fields."""

    name: str
    owner: str
    create: Call
    read: Call | None
    update: Call | None
    delete: Call | None
    id_field: str
    server_fields: Mapping[str, Any]
    intruders: tuple[str, ...]

    @property
    def id_name(self) -> str:
        """The id's own name (`id` of `item.id`)."""
        return self.id_field.rsplit(".", 1)[-1]

    def object_in(self, body: Any) -> dict[str, Any] | None:
        """The object inside an answer: the member `id_field`'s prefix names (`item` of
        `item.id`), or the body itself when it has no such member."""
        for part in self.id_field.split(".")[:-1]:
            if isinstance(body, dict) and isinstance(body.get(part), dict):
                body = body[part]
        return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class Limits:
    """Where resource limits are probed (every field optional: absent means not tested)."""

    list_path: str | None = None
    page_param: str = "limit"
    page_max: int | None = None
    write: Call | None = None
    in_list_path: str | None = None
    in_list_param: str = "filter"
    in_list_template: str = "id in ({values})"
    in_list_count: int = 2_000
    slow: tuple[Call, ...] = ()
    max_refusal_ms: float = 1000.0
    max_slow_ms: float = 2000.0


@dataclass(frozen=True)
class AuthRules:
    """Facts about the target's tokens: leeway, and how to revoke one (if it can)."""

    leeway_s: float = 60.0
    revoke: Call | None = None
    issue: Call | None = None
    issue_field: str = "token"


@dataclass(frozen=True)
class Matrix:
    """Everything the audit was told about the target's access rules."""

    source: str
    roles: tuple[str, ...]
    routes: tuple[RouteRule, ...]
    objects: tuple[ObjectRule, ...] = ()
    limits: Limits = Limits()
    auth: AuthRules = AuthRules()

    def allowed_role(self, method: str, path: str) -> str | None:
        """A role the matrix allows on (method, path), for probes that need one."""
        for rule in self.routes:
            if rule.call.method == method and rule.call.path == path:
                for role in self.roles:
                    if rule.expect.get(role) == "allow":
                        return role
        return None

    def auth_probe(self) -> tuple[RouteRule, str] | None:
        """A GET route refused to `anonymous` with 401 and allowed to some role."""
        for rule in self.routes:
            if rule.call.method != "GET" or rule.expect.get(ANONYMOUS) != 401:
                continue
            for role in self.roles:
                if rule.expect.get(role) == "allow":
                    return rule, role
        return None


def load_matrix(path: Path) -> Matrix:
    """The matrix in TOML file `path`; ConfigError naming the field for anything wrong."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where) from None
    return parse_matrix(data, where)


def parse_matrix(data: Mapping[str, Any], where: str) -> Matrix:
    """A Matrix from parsed TOML (see docs/audit.md for the fields)."""
    _known(data, ("roles", "routes", "objects", "limits", "auth"), where)
    roles = data.get("roles")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise ConfigError("expected a non-empty list of role names", f"{where}: roles")
    if ANONYMOUS in roles:
        raise ConfigError(f"{ANONYMOUS!r} is implied; do not list it", f"{where}: roles")
    routes = tuple(
        _route(r, roles, f"{where}: routes[{i}]")
        for i, r in enumerate(_list(data, "routes", where))
    )
    objects = tuple(
        _object(o, roles, f"{where}: objects[{i}]")
        for i, o in enumerate(_list(data, "objects", where))
    )
    limits = _limits(_table(data, "limits", where), f"{where}: limits")
    auth = _auth(_table(data, "auth", where), roles, f"{where}: auth")
    return Matrix(where, tuple(roles), routes, objects, limits, auth)


def _list(data: Mapping[str, Any], name: str, where: str) -> list[Mapping[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("expected an array of tables ([[" + name + "]])", f"{where}: {name}")
    return value


def _table(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError("expected a table", f"{where}: {name}")
    return value


def _known(data: Mapping[str, Any], names: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in names:
            raise ConfigError(
                f"unknown field; expected one of {', '.join(names)}", f"{where}: {key}"
            )


def _call(data: Any, where: str, roles: list[str] | None = None) -> Call:
    if not isinstance(data, dict):
        raise ConfigError("expected a table with method and path", where)
    _known(data, ("method", "path", "body", "params", "as"), where)
    method, path = data.get("method", "GET"), data.get("path")
    if not isinstance(method, str) or not method.isalpha():
        raise ConfigError(f"expected an HTTP method, got {method!r}", f"{where}.method")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"expected a path starting with '/', got {path!r}", f"{where}.path")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError("expected a table of query parameters", f"{where}.params")
    role = data.get("as")
    if role is not None and (roles is None or role not in roles):
        raise ConfigError(f"expected one of the roles {roles}, got {role!r}", f"{where}.as")
    return Call(
        method.upper(),
        path,
        data.get("body"),
        MappingProxyType({str(k): str(v) for k, v in params.items()}),
        role,
    )


def _expect(value: Any, where: str) -> Expect:
    if isinstance(value, bool) or not (
        (isinstance(value, int) and 100 <= value <= 599) or value in _WORDS
    ):
        raise ConfigError(f"expected an HTTP status or 'allow'/'deny', got {value!r}", where)
    return int(value) if isinstance(value, int) else str(value)


def _route(data: Mapping[str, Any], roles: list[str], where: str) -> RouteRule:
    _known(data, ("method", "path", "body", "params", "expect"), where)
    call = _call({k: v for k, v in data.items() if k != "expect"}, where)
    expect = data.get("expect")
    if not isinstance(expect, dict):
        raise ConfigError("expected a table role = status", f"{where}.expect")
    for role in expect:
        if role not in (*roles, ANONYMOUS):
            raise ConfigError(
                f"unknown role; roles are {roles} and {ANONYMOUS!r}", f"{where}.expect.{role}"
            )
    checked = {role: _expect(v, f"{where}.expect.{role}") for role, v in expect.items()}
    return RouteRule(call, MappingProxyType(checked))


def _object(data: Mapping[str, Any], roles: list[str], where: str) -> ObjectRule:
    names = ("name", "owner", "create", "read", "update", "delete", "id_field", "server_fields",
             "intruders")  # fmt: skip
    _known(data, names, where)
    owner = data.get("owner")
    if owner not in roles:
        raise ConfigError(f"expected one of the roles {roles}, got {owner!r}", f"{where}.owner")
    intruders = data.get("intruders", [])
    if not isinstance(intruders, list) or any(r not in roles for r in intruders):
        raise ConfigError(f"expected a list of roles from {roles}", f"{where}.intruders")
    server_fields = data.get("server_fields", {})
    if not isinstance(server_fields, dict):
        raise ConfigError("expected a table field = value", f"{where}.server_fields")
    if "create" not in data:
        raise ConfigError("required: how the owner creates one", f"{where}.create")
    optional = {
        name: _call(data[name], f"{where}.{name}") if name in data else None
        for name in ("read", "update", "delete")
    }
    return ObjectRule(
        name=str(data.get("name", "object")),
        owner=str(owner),
        create=_call(data["create"], f"{where}.create"),
        read=optional["read"],
        update=optional["update"],
        delete=optional["delete"],
        id_field=str(data.get("id_field", "id")),
        server_fields=MappingProxyType(dict(server_fields)),
        intruders=tuple(intruders),
    )


def _limits(data: Mapping[str, Any], where: str) -> Limits:
    names = (
        "list",
        "page_param",
        "page_max",
        "write",
        "in_list",
        "slow",
        "max_refusal_ms",
        "max_slow_ms",
    )
    _known(data, names, where)
    in_list = data.get("in_list", {})
    if not isinstance(in_list, dict):
        raise ConfigError("expected a table with path, param, template, count", f"{where}.in_list")
    _known(in_list, ("path", "param", "template", "count"), f"{where}.in_list")
    slow = data.get("slow", [])
    if not isinstance(slow, list):
        raise ConfigError("expected an array of calls", f"{where}.slow")
    page_max = data.get("page_max")
    if page_max is not None and (not isinstance(page_max, int) or page_max < 1):
        raise ConfigError(f"expected a positive integer, got {page_max!r}", f"{where}.page_max")
    template = str(in_list.get("template", Limits.in_list_template))
    if "{values}" not in template:
        raise ConfigError("expected a template holding {values}", f"{where}.in_list.template")
    return Limits(
        list_path=data.get("list"),
        page_param=str(data.get("page_param", "limit")),
        page_max=page_max,
        write=_call(data["write"], f"{where}.write") if "write" in data else None,
        in_list_path=in_list.get("path"),
        in_list_param=str(in_list.get("param", "filter")),
        in_list_template=template,
        in_list_count=int(in_list.get("count", Limits.in_list_count)),
        slow=tuple(_call(c, f"{where}.slow[{i}]") for i, c in enumerate(slow)),
        max_refusal_ms=float(data.get("max_refusal_ms", Limits.max_refusal_ms)),
        max_slow_ms=float(data.get("max_slow_ms", Limits.max_slow_ms)),
    )


def _auth(data: Mapping[str, Any], roles: list[str], where: str) -> AuthRules:
    _known(data, ("leeway_s", "revoke", "issue", "issue_field"), where)
    leeway = data.get("leeway_s", AuthRules.leeway_s)
    if isinstance(leeway, bool) or not isinstance(leeway, int | float) or leeway < 0:
        raise ConfigError(f"expected seconds >= 0, got {leeway!r}", f"{where}.leeway_s")
    revoke = _call(data["revoke"], f"{where}.revoke", roles) if "revoke" in data else None
    issue = _call(data["issue"], f"{where}.issue", roles) if "issue" in data else None
    return AuthRules(float(leeway), revoke, issue, str(data.get("issue_field", "token")))
