"""Item files: CSV or JSON Lines (optionally gzipped) into validated ``Item`` records."""

from __future__ import annotations

import json
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
from freshrec.types import ITEM_FIELDS, Item, parse_item

# CSV cells are strings; these columns hold JSON text (an object, a list of numbers).
JSON_COLUMNS = ("properties", "vector")
BOOLEAN_CELLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def read_items(
    path: str | Path, strict: bool = False, progress: Progress | None = None
) -> ReadResult[Item]:
    r"""Read an item file into validated items, keeping the good rows and listing the bad.

    Columns/keys: ``item_id`` and optionally ``title, text, categories, properties,
    created_at, vector, available``. In CSV, ``categories`` is ``a|b|c``, ``properties`` and
    ``vector`` are JSON text, ``available`` is ``true``/``false``, and empty cells are missing.

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.json`` file, optionally ``.gz``.
        strict: raise on the first bad row instead of collecting it.
        progress: called with on-disk bytes consumed, summing to the file size.

    Returns:
        ``ReadResult`` with items in file order, ``(line, message)`` per bad row (1-based
        physical lines) and the number of lines read.

    Raises:
        ReadError: the file is unreadable, has an unknown suffix or a wrong CSV header, or
            (with ``strict``) a bad row.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "items.csv"
        >>> _ = path.write_text("item_id,title,categories\ni1,Blue Train,jazz|bop\n")
        >>> read_items(path).records[0].categories
        ('jazz', 'bop')
    """
    path = Path(path)
    collector: RowCollector[Item] = RowCollector(strict)
    with open_lines(path, progress=progress) as lines:
        is_csv = file_format(path) == "csv"
        rows = (
            csv_rows(lines, allowed=ITEM_FIELDS, required=("item_id",))
            if is_csv
            else jsonl_rows(lines)
        )
        for line, row in rows:
            if isinstance(row, BadRow):
                collector.reject(line, row.message)
                continue
            try:
                collector.keep(parse_item(_from_csv_cells(row) if is_csv else row))
            except ValidationError as exc:
                collector.reject(line, str(exc))
        collector.result.lines = lines.lines_read
    return collector.result


def _from_csv_cells(row: dict[str, str]) -> dict[str, Any]:
    """Turn the JSON and boolean cells of a CSV row into values ``parse_item`` accepts."""
    record: dict[str, Any] = dict(row)
    for name in JSON_COLUMNS:
        if name in record:
            try:
                record[name] = json.loads(record[name])
            except json.JSONDecodeError as exc:
                raise ValidationError(f"not valid JSON: {exc.msg}", name) from None
    if "categories" in record:  # "a|b|c" in a cell; records elsewhere must send a list
        record["categories"] = [part for part in record["categories"].split("|") if part]
    if "available" in record:
        flag = BOOLEAN_CELLS.get(record["available"].strip().lower())
        if flag is None:
            raise ValidationError("must be true or false", "available")
        record["available"] = flag
    return record
