"""The TOML table reader, under its earlier name (it is `harness.toml_table`)."""

from harness.toml_table import Table

__all__ = ["Table"]
