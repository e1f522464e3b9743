"""MovieLens user demographics (100K ``u.user``, 1M ``users.dat``) as user profiles.

The properties (age, gender, occupation) are what a sign-up form would ask, so they drive
the demographic side of new-user recommendations (segment trending).
"""

from __future__ import annotations

from pathlib import Path

from freshrec.errors import ValidationError
from freshrec.readers.files import RowCollector, open_lines
from freshrec.types import User, parse_user

# 1M codes its ages as the lower bound of a band; 100K gives years.
_LAYOUTS = (("u.user", "|", ("age", "gender", "occupation")),
            ("users.dat", "::", ("gender", "age", "occupation")))  # fmt: skip


def read_movielens_users(directory: str | Path) -> tuple[list[User], list[tuple[int, str]]]:
    r"""Return ``(users, errors)`` from a MovieLens directory; no users file gives none.

    Zip codes are left out: too fine to be a segment, and not needed to show the idea.

    Example (with a 100K-style file):
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "u.user").write_text("1|24|M|technician|85711\nbad line\n")
        >>> users, errors = read_movielens_users(folder)
        >>> users[0].user_id, dict(users[0].properties)
        ('1', {'age': 24, 'gender': 'M', 'occupation': 'technician'})
        >>> errors
        [(2, 'u.user: expected 5 fields, got 1')]
    """
    directory = Path(directory)
    for name, separator, columns in _LAYOUTS:
        path = directory / name
        if not path.is_file():
            continue
        collected: RowCollector[User] = RowCollector(False, name)
        with open_lines(path, "latin-1") as lines:
            for number, line in enumerate(lines, 1):
                fields = line.rstrip("\r\n").split(separator)
                if not line.strip():
                    continue
                if len(fields) != 5:
                    collected.reject(number, f"expected 5 fields, got {len(fields)}")
                    continue
                properties: dict[str, object] = dict(zip(columns, fields[1:4], strict=True))
                try:
                    properties["age"] = int(str(properties["age"]))
                    collected.keep(parse_user({"user_id": fields[0], "properties": properties}))
                except (ValueError, ValidationError) as exc:
                    collected.reject(number, str(exc))
        return collected.result.records, collected.result.errors
    return [], []
