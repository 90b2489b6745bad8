"""Typed reading of one JSON object's fields, for the run directory's records.

Each reader takes the object, the field name and where the object came from; a missing
field gets the documented default, a field of the wrong type raises `RecordError` naming
the file and the field. JSON numbers may arrive as int or float: floats accept both.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import cast

from harness.errors import ConfigError

JSONObject = Mapping[str, object]
"""A decoded JSON object whose values are not (yet) typed."""


class RecordError(ConfigError):
    """A run-directory record whose field has the wrong type."""


def _wrong(where: str, key: str, expected: str, value: object) -> RecordError:
    return RecordError(f"expected {expected}, got {type(value).__name__}", f"{where}: {key}")


def _checked(data: JSONObject, key: str, where: str, kind: type | tuple[type, ...],
             expected: str) -> object | None:  # fmt: skip
    """The field's value when it is of `kind` (bool never counts as a number), or None
    when absent or null; RecordError otherwise."""
    value = data.get(key)
    if value is None:
        return None
    is_bool = isinstance(value, bool)
    if not isinstance(value, kind) or (is_bool and kind is not bool):
        raise _wrong(where, key, expected, value)
    return value


def opt_float(data: JSONObject, key: str, where: str) -> float | None:
    """A number or null (bool is not a number here)."""
    value = _checked(data, key, where, (int, float), "a number")
    return None if value is None else float(cast(float, value))


def req_float(data: JSONObject, key: str, where: str, default: float = 0.0) -> float:
    """A number; `default` when absent or null."""
    value = opt_float(data, key, where)
    return default if value is None else value


def opt_int(data: JSONObject, key: str, where: str) -> int | None:
    """An integer or null (a float with no fraction is accepted)."""
    value = data.get(key)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    found = _checked(data, key, where, int, "an integer")
    return None if found is None else int(cast(int, found))


def req_int(data: JSONObject, key: str, where: str, default: int = 0) -> int:
    """An integer; `default` when absent or null."""
    value = opt_int(data, key, where)
    return default if value is None else value


def opt_str(data: JSONObject, key: str, where: str) -> str | None:
    """A string or null."""
    value = _checked(data, key, where, str, "a string")
    return None if value is None else str(value)


def req_str(data: JSONObject, key: str, where: str, default: str = "") -> str:
    """A string; `default` when absent or null."""
    value = opt_str(data, key, where)
    return default if value is None else value


def opt_bool(data: JSONObject, key: str, where: str) -> bool | None:
    """true, false or null."""
    value = _checked(data, key, where, bool, "true or false")
    return None if value is None else bool(value)


def req_bool(data: JSONObject, key: str, where: str, default: bool = False) -> bool:
    """true or false; `default` when absent or null."""
    value = opt_bool(data, key, where)
    return default if value is None else value


def opt_object(data: JSONObject, key: str, where: str) -> JSONObject | None:
    """A JSON object or null."""
    value = _checked(data, key, where, Mapping, "an object")
    return None if value is None else cast(JSONObject, value)


def req_object(data: JSONObject, key: str, where: str) -> JSONObject:
    """A JSON object; empty when absent or null."""
    return opt_object(data, key, where) or {}


def str_list(data: JSONObject, key: str, where: str) -> tuple[str, ...]:
    """A list of strings (each item turned into a string); empty when absent or null."""
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _wrong(where, key, "a list", value)
    return tuple(str(v) for v in value)


def object_list(data: JSONObject, key: str, where: str) -> tuple[JSONObject, ...]:
    """A list of JSON objects; empty when absent or null."""
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _wrong(where, key, "a list", value)
    for item in value:
        if not isinstance(item, Mapping):
            raise _wrong(where, key, "a list of objects", item)
    return tuple(value)


def int_map(data: JSONObject, key: str, where: str) -> dict[str, int]:
    """An object of integer counts, e.g. errors by kind; empty when absent or null."""
    found = req_object(data, key, where)
    return {str(k): req_int(found, k, f"{where}: {key}") for k in found}


def int_list(data: JSONObject, key: str, where: str) -> tuple[int, ...] | None:
    """A list of integers, or None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _wrong(where, key, "a list of integers", value)
    return tuple(int(v) for v in value)


def unknown_fields(data: JSONObject, known: Collection[str]) -> JSONObject:
    """The fields of `data` a newer writer added, kept so a rewrite does not drop them."""
    return {k: v for k, v in data.items() if k not in known}


def opt_count(data: JSONObject, key: str, where: str) -> float | None:
    """An integer count or null, as a float (for tables of figures that mix the two)."""
    value = opt_int(data, key, where)
    return None if value is None else float(value)
