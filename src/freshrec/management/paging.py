"""Stable cursor paging over the catalogue.

Items are paged in ``item_id`` order and the cursor is the last id of the page (keyset
paging, not an offset): an upsert between two pages cannot shift items across the page
boundary, so an item present during the whole listing is on exactly one page and no page
repeats one. The cursor is opaque to clients (URL-safe base64 with a version prefix), so the
order may change later without breaking anyone who only passes it back.

>>> decode_cursor(encode_cursor("shoes/42"))
'shoes/42'
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from freshrec.errors import ValidationError
from freshrec.types import Item

_PREFIX = "i1."
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of items; ``next_cursor`` is None on the last page."""

    items: list[Item]
    next_cursor: str | None


def encode_cursor(last_item_id: str) -> str:
    """The cursor that continues after ``last_item_id``."""
    return _PREFIX + base64.urlsafe_b64encode(last_item_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The item id a cursor continues after.

    Raises:
        ValidationError: (field ``cursor``) it was not made by ``encode_cursor``.
    """
    if not cursor.startswith(_PREFIX):
        raise ValidationError("not a cursor this server made: pass next_cursor back", "cursor")
    body = cursor[len(_PREFIX) :]
    if not _BASE64URL.fullmatch(body):  # the decoder would skip stray characters
        raise ValidationError("a damaged cursor: pass next_cursor back as given", "cursor")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError(
            "a damaged cursor: pass next_cursor back as given", "cursor"
        ) from None


def page_of(items: list[Item], limit: int) -> ItemPage:
    """A page from up to ``limit + 1`` items read (the extra one says whether more follow)."""
    if len(items) > limit:
        return ItemPage(items[:limit], encode_cursor(items[limit - 1].item_id))
    return ItemPage(items, None)
