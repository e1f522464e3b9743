"""Event files: CSV or JSON Lines (optionally gzipped) into validated ``Event`` records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from freshrec.errors import ValidationError
from freshrec.readers.files import (
    BadRow,
    Progress,
    ReadResult,
    RowCollector,
    csv_rows,
    file_format,
    jsonl_rows,
    open_lines,
)
from freshrec.readers.movielens import read_movielens
from freshrec.types import EVENT_FIELDS, Event, parse_event

REQUIRED_EVENT_COLUMNS = ("user_id", "item_id", "type", "timestamp")


def read_events(
    path: str | Path,
    *,
    known_types: Iterable[str] | Mapping[str, float],
    strict: bool = False,
    progress: Progress | None = None,
) -> ReadResult[Event]:
    r"""Read an event file into validated events, keeping the good rows and listing the bad.

    The format follows the suffix: ``.csv`` (header row required; columns ``user_id,
    item_id, type, timestamp`` and optionally ``value, event_id, recommendation_id``) or
    ``.jsonl``/``.json`` (one object per line), each optionally ``.gz``. Empty CSV cells count
    as missing. Every row goes through ``parse_event``, so timestamps more than a day in the
    future are rejected like anywhere else.

    Args:
        path: the file to read.
        known_types: event types accepted (names, or a mapping of name to weight).
        strict: raise on the first bad row instead of collecting it.
        progress: called with on-disk bytes consumed, summing to the file size.

    Returns:
        ``ReadResult`` with events in file order, ``(line, message)`` per bad row (1-based
        physical lines) and the number of lines read.

    Raises:
        ReadError: the file is unreadable, has an unknown suffix or a wrong CSV header, or
            (with ``strict``) a bad row; ``line`` says where.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
        >>> _ = path.write_text("user_id,item_id,type,timestamp\nu1,i1,click,1700000000\n")
        >>> read_events(path, known_types=["click"]).records[0].item_id
        'i1'
    """
    path = Path(path)
    types = known_types if isinstance(known_types, Mapping) else frozenset(known_types)
    collector: RowCollector[Event] = RowCollector(strict)
    with open_lines(path, progress=progress) as lines:
        if file_format(path) == "csv":
            rows = csv_rows(lines, allowed=EVENT_FIELDS, required=REQUIRED_EVENT_COLUMNS)
        else:
            rows = jsonl_rows(lines)
        for line, row in rows:
            _collect(collector, line, row, types)
        collector.result.lines = lines.lines_read
    return collector.result


def _collect(
    collector: RowCollector[Event], line: int, row: Any, types: Mapping[str, float] | frozenset[str]
) -> None:
    if isinstance(row, BadRow):
        collector.reject(line, row.message)
        return
    try:
        # now=None: the file is history, but "more than a day in the future" stays an error.
        collector.keep(parse_event(row, types, now=None))
    except ValidationError as exc:
        collector.reject(line, str(exc))


def read_events_any(
    path: str | Path,
    known_types: Iterable[str] | Mapping[str, float],
    strict: bool = False,
    progress: Progress | None = None,
) -> ReadResult[Event]:
    """Read events from a MovieLens directory or from one event file.

    A directory is read with ``read_movielens`` (ratings become ``rating`` events; its items
    are dropped here, call ``read_movielens`` to keep them); anything else with ``read_events``.

    Returns:
        ``ReadResult`` of events in file order; for MovieLens, error messages name the file.

    Raises:
        ReadError: as ``read_events`` or ``read_movielens`` raise it.
    """
    path = Path(path)
    if path.is_dir():
        data = read_movielens(path, strict=strict, progress=progress)
        return ReadResult(records=data.events, errors=data.errors, lines=data.lines)
    return read_events(path, known_types=known_types, strict=strict, progress=progress)
