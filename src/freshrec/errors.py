"""Named exceptions: every bad input surfaces as one of these, never as a bare KeyError."""

from __future__ import annotations


class FreshrecError(Exception):
    """Base class of every error freshrec raises on purpose."""


class FieldError(FreshrecError):
    """An error about one field of a request: ``field`` names it (or ``None``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        # "user_id is required" names its field already; "must be a string" does not.
        if not self.field or self.message.startswith(self.field):
            return self.message
        return f"{self.field}: {self.message}"


class ValidationError(FieldError, ValueError):
    """An input record is malformed. ``field`` names the offending field (or ``None``)."""


class UnknownItemError(FreshrecError, KeyError):
    """An operation names an item the engine has never seen."""

    def __init__(self, item_id: str) -> None:
        super().__init__(item_id)
        self.item_id = item_id

    def __str__(self) -> str:
        return f"unknown item_id {self.item_id!r}"


class UnknownScenarioError(FreshrecError, KeyError):
    """A request names a scenario that is not configured."""

    def __init__(self, scenario: str, known: list[str]) -> None:
        super().__init__(scenario)
        self.scenario = scenario
        self.known = known

    def __str__(self) -> str:
        return f"unknown scenario {self.scenario!r}; configured: {', '.join(self.known)}"


class StoreError(FreshrecError):
    """The durable store failed or holds data this version cannot read."""


class StoreUnavailableError(StoreError):
    """The store cannot commit right now (disk full, I/O error, locked): nothing was written.

    Retrying later may succeed; what was acknowledged before is intact.
    """


class EngineClosedError(FreshrecError):
    """The engine was closed (``Engine.close``); open it again to use it."""

    def __str__(self) -> str:
        return "the engine is closed"


class EngineDegradedError(FreshrecError):
    """Writes are refused: events were committed but applying them to memory failed.

    The log is intact; the in-memory state may lack them, so the engine refuses writes rather
    than diverge from its log further. Restarting rebuilds the state from the log.
    """


class DataDirectoryInUseError(StoreError):
    """Another process writes this data directory (one writer per directory)."""

    def __init__(self, directory: str, owner: str) -> None:
        super().__init__(directory, owner)
        self.directory = directory
        self.owner = owner

    def __str__(self) -> str:
        return (
            f"data directory {self.directory} is in use by another process: {self.owner}; "
            "stop it first, or ask the running server over HTTP"
        )


class ReadError(FreshrecError):
    """A whole input file is unreadable (or, with ``strict``, has a bad row)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:
        base = super().__str__()
        return f"line {self.line}: {base}" if self.line is not None else base


class OffsetNotReachedError(ValidationError):
    """A read asked for a log offset (``at_least``) this engine has not applied in time."""

    def __init__(self, wanted: int, applied: int) -> None:
        super().__init__(f"offset {wanted} is not applied yet (applied: {applied})", "at_least")
        self.wanted = wanted
        self.applied = applied


class NotFoundError(FieldError, LookupError):
    """A named thing (an experiment, a served list) does not exist (HTTP 404)."""


class ConflictError(FieldError):
    """A write that contradicts what exists (HTTP 409), e.g. an experiment name taken."""
