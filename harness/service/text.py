"""Which text the service accepts from clients: what every storage backend can keep.

JSON may spell a lone surrogate (`"\\ud800"`), which is no character: it cannot be stored,
signed or encoded as UTF-8 (RFC 7493 forbids it). PostgreSQL's text cannot hold U+0000. So
bodies, query parameters, filters and cursors refuse both, before anything reaches storage.
"""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""Matches a character no backend can keep as text."""


def unstorable_text(text: str) -> tuple[int, str] | None:
    """(offset, why) of the first character in `text` no backend can keep, or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return found.start(), "text holds a NUL character (U+0000), which cannot be stored"
    return found.start(), "text holds a lone surrogate, which is not Unicode"
