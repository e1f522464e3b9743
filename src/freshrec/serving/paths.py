"""Path segments that carry external ids.

Ids may hold any printable character, ``/`` included (URLs make common item ids), and a bad
id must reach the route so ``check_id`` can refuse it with a 400 naming the field. Starlette's
``path`` converter stops at a newline (a 404 instead), so ids get a converter of their own
that matches everything; ``freshrec.types.check_id`` decides what is valid.

>>> id_segment("item_id")
'{item_id:freshrec_id}'
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

CONVERTER = "freshrec_id"


class IdConvertor(Convertor[str]):
    """Matches any text, empty, ``/`` and control characters included."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        """Return the segment unchanged (validation happens in the route)."""
        return value

    def to_string(self, value: str) -> str:
        """Return the id unchanged."""
        return value


register_url_convertor(CONVERTER, IdConvertor())


def id_segment(name: str) -> str:
    """Return the route template segment for an id parameter called ``name``."""
    return "{" + name + ":" + CONVERTER + "}"
