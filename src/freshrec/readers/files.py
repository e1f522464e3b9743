"""Plumbing shared by every reader: opening (gzip) files, progress, rows and bad-row bookkeeping."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from freshrec.errors import ReadError

T = TypeVar("T")
Progress = Callable[[int], None]

# How many lines pass between two progress calls: often enough for a smooth bar,
# rare enough that the callback costs nothing next to parsing.
PROGRESS_EVERY_LINES = 2048


@dataclass(slots=True)
class ReadResult(Generic[T]):
    """What a reader got out of one file.

    Attributes:
        records: the valid records (``Event`` or ``Item``), in file order.
        errors: ``(line, message)`` per rejected row; ``line`` is the 1-based physical line
            where the row starts.
        lines: physical lines read, header included.
    """

    records: list[T] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not even be split into fields (bad JSON, wrong field count)."""

    message: str


class RowCollector(Generic[T]):
    """Keeps valid records and bad rows; with ``strict`` the first bad row raises."""

    def __init__(self, strict: bool, label: str = "") -> None:
        self.result: ReadResult[T] = ReadResult()
        self.strict = strict
        # A prefix naming the file, for readers that report several files in one list.
        self.label = f"{label}: " if label else ""

    def keep(self, record: T) -> None:
        """Record one valid row."""
        self.result.records.append(record)

    def reject(self, line: int, message: str) -> None:
        """Record one bad row; raises ``ReadError`` in strict mode."""
        message = self.label + message
        if self.strict:
            raise ReadError(message, line)
        self.result.errors.append((line, message))


class LineSource:
    """Text lines of one file, counting lines and reporting bytes consumed on disk."""

    def __init__(self, text: IO[str], raw: IO[bytes], name: str, progress: Progress | None) -> None:
        self.lines_read = 0
        self._text = text
        self._raw = raw
        self._name = name
        self._progress = progress

    def __iter__(self) -> Iterator[str]:
        reported = 0
        try:
            for line in self._text:
                self.lines_read += 1
                if self._progress is not None and self.lines_read % PROGRESS_EVERY_LINES == 0:
                    # The raw position is in on-disk (compressed) bytes, so the calls add up
                    # to the file size that a progress bar uses as its total.
                    position = self._raw.tell()
                    self._progress(position - reported)
                    reported = position
                yield line
        except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
            raise ReadError(f"{self._name}: unreadable: {exc}", self.lines_read + 1) from None
        if self._progress is not None:
            self._progress(self._raw.tell() - reported)


def file_format(path: Path) -> str:
    """Return ``"csv"`` or ``"jsonl"`` from the suffix (``.gz`` ignored).

    ``.json`` files are read as JSON Lines: one object per line.

    Raises:
        ReadError: the suffix is none of ``.csv``, ``.jsonl``, ``.ndjson``, ``.json``.
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    kind = suffixes[-1] if suffixes else ""
    if kind == ".csv":
        return "csv"
    if kind in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ReadError(f"{path.name}: unknown file type; expected .csv, .jsonl or .json (or .gz)")


@contextmanager
def open_lines(
    path: Path, encoding: str = "utf-8-sig", progress: Progress | None = None
) -> Iterator[LineSource]:
    """Open ``path`` as text lines, gunzipping it when its name ends in ``.gz``.

    ``progress`` receives the on-disk bytes consumed since its previous call; the calls sum
    to the file size once the lines are exhausted.

    Raises:
        ReadError: the file is missing or unreadable, not gzip, or not in ``encoding``.
    """
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ReadError(f"{path}: {exc.strerror or exc}") from None
    try:
        binary: IO[bytes] | gzip.GzipFile = raw
        if path.suffix.lower() == ".gz":
            binary = gzip.GzipFile(fileobj=raw)
        # newline="" keeps newlines inside quoted CSV cells and counts \r\n as one line.
        text = io.TextIOWrapper(binary, encoding=encoding, newline="")
        yield LineSource(text, raw, path.name, progress)
    finally:
        raw.close()


def csv_rows(
    lines: Iterator[str] | LineSource,
    *,
    allowed: Collection[str],
    required: Collection[str],
    delimiter: str = ",",
) -> Iterator[tuple[int, dict[str, str] | BadRow]]:
    """Yield ``(line, row)`` per CSV record after the header (``BadRow`` when unsplittable).

    ``line`` is the physical line where the record starts (the header is line 1). Empty cells
    are left out of the row so that they count as missing; blank lines are skipped.

    Raises:
        ReadError: the header is missing, names an unknown column or lacks a required one.
    """
    reader = csv.reader(lines, delimiter=delimiter)
    header = _checked_header(next(reader, None), allowed, required)
    consumed = reader.line_num
    while True:
        start = consumed + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            consumed = reader.line_num
            yield start, BadRow(f"bad CSV: {exc}")
            continue
        consumed = reader.line_num
        if not cells:
            continue
        if len(cells) != len(header):
            yield start, BadRow(f"expected {len(header)} fields, got {len(cells)}")
            continue
        yield start, {name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}


def _checked_header(
    cells: list[str] | None, allowed: Collection[str], required: Collection[str]
) -> list[str]:
    # A wrong header would fail every row with the same message; say it once instead.
    if not cells:
        raise ReadError("a header row is required", 1)
    header = [name.strip() for name in cells]
    unknown = [name for name in header if name not in allowed]
    if unknown:
        raise ReadError(f"unknown column {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}", 1)
    missing = [name for name in required if name not in header]
    if missing:
        raise ReadError(f"missing column {missing[0]!r} in the header", 1)
    return header


def jsonl_rows(lines: Iterator[str] | LineSource) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, value)`` per non-blank JSON Lines row (``BadRow`` when not JSON).

    The value may be any JSON type: the record parser decides whether it is valid.
    """
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            value = BadRow(f"invalid JSON: {exc.msg} (column {exc.colno})")
        yield number, value
