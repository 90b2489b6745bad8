"""What a storage backend raises: the same three errors whichever database is behind it."""

from __future__ import annotations

from harness.errors import RunFailed


class StorageUnavailable(RunFailed):
    """The database cannot serve now (I/O error, corruption, file missing, busy; for
    PostgreSQL a lost or refused connection, or a read-only server after a failover).

    The app answers it with a 503; at startup it is a failed run (exit code 3). `code` names
    the condition (an SQLite result code name, or a PostgreSQL SQLSTATE class).
    """

    def __init__(self, message: str, code: str = "SQLITE_ERROR") -> None:
        super().__init__(message)
        self.code = code


class ItemNotFound(LookupError):
    """No item has this id."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"no item with id {item_id}")
        self.item_id = item_id


class IdempotencyConflict(ValueError):
    """An idempotency key was already used, by the same caller, for a different request."""

    def __init__(self, key: str, seq: int) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used (seq {seq}) for a different request"
        )
        self.key = key
        self.seq = seq
