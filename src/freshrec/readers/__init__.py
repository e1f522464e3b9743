"""File importers: event and item files (CSV, JSON Lines, gzip) and MovieLens directories.

Every reader validates rows with the ``parse_*`` functions of ``freshrec.types``, keeps the
good rows, and reports bad ones as ``(line, message)`` (or raises ``ReadError`` when strict).
"""

from freshrec.readers.events import read_events, read_events_any
from freshrec.readers.files import Progress, ReadResult
from freshrec.readers.items import read_items
from freshrec.readers.movielens import MovieLensData, read_movielens

__all__ = [
    "MovieLensData",
    "Progress",
    "ReadResult",
    "read_events",
    "read_events_any",
    "read_items",
    "read_movielens",
]
