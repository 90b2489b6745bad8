"""Typed reading of one JSON object's fields, for the run directory's records.

Each reader takes the object, the field name and where the object came from; a missing
field gets the documented default, a field of the wrong type raises `RecordError` naming
the file and the field. JSON numbers may arrive as int or float: floats accept both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.errors import ConfigError

JSONObject = Mapping[str, object]
"""A decoded JSON object whose values are not (yet) typed."""


class RecordError(ConfigError):
    """A run-directory record whose field has the wrong type."""


def _wrong(where: str, key: str, expected: str, value: object) -> RecordError:
    return RecordError(f"expected {expected}, got {type(value).__name__}", f"{where}: {key}")


def opt_float(data: JSONObject, key: str, where: str) -> float | None:
    """A number or null (bool is not a number here)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(where, key, "a number", value)
    return float(value)


def req_float(data: JSONObject, key: str, where: str, default: float = 0.0) -> float:
    """A number; `default` when absent or null."""
    value = opt_float(data, key, where)
    return default if value is None else value


def opt_int(data: JSONObject, key: str, where: str) -> int | None:
    """An integer or null (a float with no fraction is accepted)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(where, key, "an integer", value)
    return value


def req_int(data: JSONObject, key: str, where: str, default: int = 0) -> int:
    """An integer; `default` when absent or null."""
    value = opt_int(data, key, where)
    return default if value is None else value


def opt_str(data: JSONObject, key: str, where: str) -> str | None:
    """A string or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(where, key, "a string", value)
    return value


def req_str(data: JSONObject, key: str, where: str, default: str = "") -> str:
    """A string; `default` when absent or null."""
    value = opt_str(data, key, where)
    return default if value is None else value


def opt_bool(data: JSONObject, key: str, where: str) -> bool | None:
    """true, false or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _wrong(where, key, "true or false", value)
    return value


def req_bool(data: JSONObject, key: str, where: str, default: bool = False) -> bool:
    """true or false; `default` when absent or null."""
    value = opt_bool(data, key, where)
    return default if value is None else value


def opt_object(data: JSONObject, key: str, where: str) -> JSONObject | None:
    """A JSON object or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _wrong(where, key, "an object", value)
    return value


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
