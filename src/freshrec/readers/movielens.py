"""MovieLens directories (100K, 1M, latest/20M/25M layouts) into rating events and items."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freshrec.errors import ReadError, ValidationError
from freshrec.readers.files import Progress, RowCollector, open_lines
from freshrec.types import Event, Item, parse_event, parse_item

# Genre order of the 100K flags, used when u.genre is missing.
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
# Placeholders MovieLens uses for "no genre": they carry no signal, so they become no category.
NO_GENRE = frozenset({"unknown", "(no genres listed)"})
RATING_TYPES = frozenset({"rating"})
TITLE_YEAR = re.compile(r"^(?P<name>.*?)\s*\((?P<year>\d{4})\)\s*$")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one MovieLens release keeps its ratings and movies, and how they are split."""

    name: str
    ratings: str
    movies: str
    separator: str
    encoding: str


LAYOUTS = (
    Layout("100k", "u.data", "u.item", "\t", "latin-1"),
    Layout("1m", "ratings.dat", "movies.dat", "::", "latin-1"),
    Layout("latest", "ratings.csv", "movies.csv", ",", "utf-8-sig"),
)


@dataclass(slots=True)
class MovieLensData:
    """Ratings and movies of one MovieLens directory.

    Attributes:
        events: one ``rating`` event per rating (value = the rating), in file order.
        items: one item per movie: title, genres as categories, a one-sentence text.
        errors: ``(line, message)`` per bad row; the message starts with the file name.
        lines: physical lines of the ratings file read.
        layout: ``"100k"``, ``"1m"`` or ``"latest"``.
    """

    events: list[Event] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0
    layout: str = ""


def read_movielens(
    directory: str | Path, *, strict: bool = False, progress: Progress | None = None
) -> MovieLensData:
    """Read a MovieLens directory, detecting the release from the file names.

    100K: ``u.data`` (tab-separated) and ``u.item`` (pipe-separated, genre flags named by
    ``u.genre``); 1M: ``ratings.dat`` and ``movies.dat`` (``::``); latest: ``ratings.csv``
    and ``movies.csv``. A missing movies file gives no items. Ids stay strings as written;
    ``created_at`` comes from the 100K release date when it parses and is not before 1970.

    Args:
        directory: the folder holding the files.
        strict: raise on the first bad row instead of collecting it.
        progress: called with bytes of the ratings file consumed, summing to its size.

    Returns:
        ``MovieLensData`` with events in file order (callers sort by time).

    Raises:
        ReadError: no known layout in ``directory``, an unreadable file, or (``strict``) a
            bad row.
    """
    directory = Path(directory)
    layout = detect_layout(directory)
    ratings: RowCollector[Event] = RowCollector(strict, layout.ratings)
    lines = _read_ratings(directory / layout.ratings, layout, ratings, progress)
    movies: RowCollector[Item] = RowCollector(strict, layout.movies)
    for line, raw in _movie_rows(directory, layout, movies.reject):
        try:
            movies.keep(parse_item(raw))
        except ValidationError as exc:
            movies.reject(line, str(exc))
    return MovieLensData(
        events=ratings.result.records,
        items=movies.result.records,
        errors=ratings.result.errors + movies.result.errors,
        lines=lines,
        layout=layout.name,
    )


def detect_layout(directory: Path) -> Layout:
    """Return the MovieLens layout whose ratings file is in ``directory``.

    Raises:
        ReadError: none of ``u.data``, ``ratings.dat``, ``ratings.csv`` is there.
    """
    for layout in LAYOUTS:
        if (directory / layout.ratings).is_file():
            return layout
    raise ReadError(f"{directory}: no MovieLens ratings (u.data, ratings.dat or ratings.csv)")


def _read_ratings(
    path: Path, layout: Layout, collector: RowCollector[Event], progress: Progress | None
) -> int:
    with open_lines(path, layout.encoding, progress) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip() or (number == 1 and layout.name == "latest"):
                continue  # blank line, or the CSV header
            fields = line.rstrip("\r\n").split(layout.separator)
            if len(fields) != 4:
                collector.reject(number, f"expected 4 fields, got {len(fields)}")
                continue
            raw = {"user_id": fields[0], "item_id": fields[1], "type": "rating"}
            raw.update(value=fields[2], timestamp=fields[3])
            try:
                collector.keep(parse_event(raw, RATING_TYPES, now=None))
            except ValidationError as exc:
                collector.reject(number, str(exc))
        return lines.lines_read


Reject = Callable[[int, str], None]


def _movie_rows(
    directory: Path, layout: Layout, reject: Reject
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, raw item)`` per movie row; rows that cannot be split go to ``reject``."""
    path = directory / layout.movies
    if not path.is_file():
        return  # ratings alone are still a usable event log
    with open_lines(path, layout.encoding) as lines:
        if layout.name == "100k":
            genres = _genre_names(directory / "u.genre")
            yield from _rows_100k(lines, genres, reject)
        elif layout.name == "1m":
            yield from _rows_1m(lines, reject)
        else:
            yield from _rows_latest(lines, reject)


def _genre_names(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return GENRES_100K
    with open_lines(path, "latin-1") as lines:
        return tuple(line.split("|")[0] for line in lines if line.strip())


def _rows_100k(
    lines: Iterable[str], genres: tuple[str, ...], reject: Reject
) -> Iterator[tuple[int, dict[str, Any]]]:
    width = 5 + len(genres)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("|")
        if len(fields) != width:
            reject(number, f"expected {width} fields, got {len(fields)}")
            continue
        flags = fields[5:]
        chosen = [name for name, flag in zip(genres, flags, strict=True) if flag.strip() == "1"]
        yield number, movie_record(fields[0], fields[1], chosen, _release_time(fields[2]))


def _rows_1m(lines: Iterable[str], reject: Reject) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("::")
        if len(fields) != 3:
            reject(number, f"expected 3 fields, got {len(fields)}")
            continue
        yield number, movie_record(fields[0], fields[1], fields[2].split("|"), None)


def _rows_latest(lines: Iterable[str], reject: Reject) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(lines)
    next(reader, None)  # header: movieId,title,genres
    start = reader.line_num + 1
    for fields in reader:
        number, start = start, reader.line_num + 1
        if not fields:
            continue
        if len(fields) != 3:
            reject(number, f"expected 3 fields, got {len(fields)}")
            continue
        yield number, movie_record(fields[0], fields[1], fields[2].split("|"), None)


def movie_record(
    movie_id: str, title: str, genres: list[str], created_at: float | None
) -> dict[str, Any]:
    """Return the raw item record of one movie (for ``parse_item``).

    Example:
        >>> movie_record("1", "Toy Story (1995)", ["Animation", "Comedy"], None)["text"]
        'Toy Story (1995). Genres: Animation, Comedy.'
    """
    title = title.strip()
    categories = [g.strip() for g in genres if g.strip() and g.strip() not in NO_GENRE]
    return {
        "item_id": movie_id.strip(),
        "title": title,
        "text": movie_text(title, categories),
        "categories": categories,
        "created_at": created_at,
    }


def movie_text(title: str, genres: list[str]) -> str:
    """Return a short sentence about a movie from its title, year and genres.

    Example:
        >>> movie_text("Toy Story (1995)", ["Animation", "Children's", "Comedy"])
        "Toy Story (1995). Genres: Animation, Children's, Comedy."
    """
    match = TITLE_YEAR.match(title)
    head = f"{match['name']} ({match['year']})" if match else title
    if not genres:
        return f"{head}."
    return f"{head}. Genres: {', '.join(genres)}."


def _release_time(text: str) -> float | None:
    """Unix seconds of a 100K release date like ``01-Jan-1995``; ``None`` when unusable."""
    try:
        released = datetime.strptime(text.strip(), "%d-%b-%Y").replace(tzinfo=UTC)
    except ValueError:
        return None
    seconds = released.timestamp()
    # Timestamps must be non-negative, and many films predate 1970: leave those unknown.
    return seconds if seconds >= 0 else None
