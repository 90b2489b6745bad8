"""The target's OpenAPI 3 document: loaded once, checked, and indexed by path template.

`load_spec(source, client_url)` reads `--spec` (a file, JSON or YAML, or a URL) or, by
default, `<host>/openapi.json`; anything that is not an OpenAPI 3.x document is a
ConfigError. `SpecIndex` finds the operation of a concrete request path and the declared
response schema of a status, and lists the fields a response holds that the schema does
not declare (what `response_schema_conformance` lets through unless the spec says
`additionalProperties: false`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from harness.errors import ConfigError

Json = Mapping[str, Any]
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_spec(source: str | None, base_url: str) -> tuple[dict[str, Any], str]:
    """(document, where it came from); ConfigError when unreadable or not OpenAPI 3."""
    where = source or f"{base_url.rstrip('/')}/openapi.json"
    if where.startswith(("http://", "https://")):
        try:
            response = requests.get(where, timeout=10, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise ConfigError(f"cannot fetch the spec: {type(exc).__name__}", where) from None
        if response.status_code != 200:
            hint = "" if source else "; give --spec FILE|URL"
            raise ConfigError(f"answered {response.status_code} for the spec{hint}", where)
        text = response.text
    else:
        try:
            text = Path(where).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the spec: {exc}", where) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not JSON or YAML: {str(exc).splitlines()[0]}", where) from None
    ensure_openapi3(document, where)
    return document, where


def ensure_openapi3(document: Any, where: str) -> None:
    """ConfigError unless `document` is an OpenAPI 3.x document with paths."""
    if not isinstance(document, dict):
        raise ConfigError("not an OpenAPI 3 document (not a JSON/YAML object)", where)
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        found = (
            f"swagger: {document['swagger']!r}"
            if "swagger" in document
            else f"openapi: {version!r}"
        )
        raise ConfigError(f"not an OpenAPI 3 document ({found})", where)
    if not isinstance(document.get("paths"), dict):
        raise ConfigError("OpenAPI document has no 'paths' object", where)


class SpecIndex:
    """Operations of a spec, found by method and concrete path."""

    def __init__(self, document: Json) -> None:
        self.document = document
        self._templates: list[tuple[re.Pattern[str], str]] = []
        for template in document.get("paths", {}):
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            self._templates.append((re.compile(f"^{pattern}$"), template))
        # literal paths before templated ones: /api/items/bulk is not /api/items/{id}
        self._templates.sort(key=lambda pair: pair[1].count("{"))

    def template_of(self, path: str) -> str | None:
        """The spec's path template matching `path` (query string ignored), or None."""
        path = path.split("?", 1)[0]
        return next((t for pattern, t in self._templates if pattern.match(path)), None)

    def operation(self, method: str, path: str) -> Json | None:
        """The operation object for (method, concrete path), or None."""
        template = self.template_of(path)
        if template is None:
            return None
        operation = self.document["paths"][template].get(method.lower())
        return operation if isinstance(operation, dict) else None

    def operations(self) -> Iterator[tuple[str, str, Json]]:
        """(METHOD, template, operation) of every operation."""
        for template, item in self.document.get("paths", {}).items():
            for method in _METHODS:
                if isinstance(item.get(method), dict):
                    yield method.upper(), template, item[method]

    def parameters(self, method: str, template: str) -> list[Json]:
        """The operation's parameters, path-level ones included, `$ref`s resolved."""
        item = self.document["paths"][template]
        found = [*item.get("parameters", []), *item[method.lower()].get("parameters", [])]
        return [self.resolve(p) for p in found]

    def resolve(self, node: Any) -> Any:
        """`node` with a local `$ref` followed (up to 20 hops)."""
        for _ in range(20):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return {}
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            node = target
        return node

    def response_schema(self, operation: Json, status: int) -> Json | None:
        """The JSON schema declared for `status` (or its class, or default), or None."""
        responses = operation.get("responses", {})
        declared = None
        for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if key in responses:
                declared = self.resolve(responses[key])
                break
        if not isinstance(declared, dict):
            return None
        content = declared.get("content", {})
        media = next((v for k, v in content.items() if "json" in k), None)
        schema = self.resolve(media.get("schema")) if isinstance(media, dict) else None
        return schema if isinstance(schema, dict) else None

    def undeclared_fields(self, schema: Json, value: Any, where: str = "$") -> list[str]:
        """JSON paths of object members in `value` that `schema` does not declare."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return []
        found: list[str] = []
        for key in ("allOf", "anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and isinstance(value, dict):
                merged: dict[str, Any] = {}
                for part in schema[key]:
                    merged.update(self.resolve(part).get("properties", {}))
                schema = {**schema, "properties": {**schema.get("properties", {}), **merged}}
        if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            extra = schema.get("additionalProperties")
            for name, member in value.items():
                if name in schema["properties"]:
                    found += self.undeclared_fields(
                        schema["properties"][name], member, f"{where}.{name}"
                    )
                elif extra is None or extra is False:
                    found.append(f"{where}.{name}")
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, member in enumerate(value[:50]):
                found += self.undeclared_fields(schema["items"], member, f"{where}[{i}]")
        return found
