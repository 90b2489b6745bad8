"""A user's own locustfile: checked before anything starts, then loaded for its User classes.

`check_locustfile` only compiles the file (no Locust import), so a syntax error is reported
before any process starts. `load_user_classes` imports it (and with it Locust): only the
master and the workers call it. Every concrete `User` subclass in the file's namespace runs,
as with Locust itself. `load_locustfile` also finds its `LoadTestShape` subclass, which
drives `harness run` when neither a profile nor `--users` is given (see `user_shape`).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError

if TYPE_CHECKING:
    from locust import LoadTestShape, User


@dataclass(frozen=True)
class Locustfile:
    """What an imported locustfile defines: its User classes and its LoadTestShape, if any."""

    user_classes: list[type[User]]
    shape_class: type[LoadTestShape] | None


def check_locustfile(path: Path) -> Path:
    """The file's absolute path; ConfigError when it is missing or not valid Python."""
    where = f"--locustfile {path}"
    if not path.is_file():
        raise ConfigError("no such file", where)
    try:
        source = path.read_text(encoding="utf-8")
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise ConfigError(f"syntax error at line {exc.lineno}: {exc.msg}", where) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read: {exc}", where) from None
    return path.resolve()


def shape_classes_defined(path: Path) -> list[str]:
    """The classes `path` defines on `LoadTestShape` (read, not imported: no Locust here).
    A shape imported from elsewhere shows only when the file is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            (isinstance(base, ast.Name) and base.id == "LoadTestShape")
            or (isinstance(base, ast.Attribute) and base.attr == "LoadTestShape")
            for base in node.bases
        )
    ]


def load_user_classes(path: Path) -> list[type[User]]:
    """Import the locustfile and return its concrete User classes; ConfigError if none."""
    return load_locustfile(path).user_classes


def load_locustfile(path: Path) -> Locustfile:
    """Import the locustfile: its concrete User classes (at least one) and its shape.

    As Locust does, the shape is the one concrete `LoadTestShape` subclass in the file's
    namespace (defined or imported there); more than one is a ConfigError.
    """
    from locust import LoadTestShape, User

    where = f"--locustfile {path}"
    check_locustfile(path)
    spec = importlib.util.spec_from_file_location(f"harness_locustfile_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError("cannot be imported as a Python module", where)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))  # sibling imports work, as with locust -f
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise ConfigError(f"importing it failed: {type(exc).__name__}: {exc}", where) from None
    values = [value for value in vars(module).values() if isinstance(value, type)]
    classes = [value for value in values if issubclass(value, User) and not value.abstract]
    if not classes:
        raise ConfigError("expected at least one User class (e.g. a FastHttpUser subclass)", where)
    shapes = [v for v in values if issubclass(v, LoadTestShape) and not v.abstract]
    if len(shapes) > 1:
        names = ", ".join(sorted(shape.__name__ for shape in shapes))
        raise ConfigError(f"expected at most one LoadTestShape class, found {names}", where)
    return Locustfile(classes, shapes[0] if shapes else None)
