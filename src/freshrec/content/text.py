"""What the encoders read of an item: one string per item, and a hash that says when it changed."""

from __future__ import annotations

import hashlib

from freshrec.types import Item, User


def item_text(item: Item) -> str:
    """Return the text an encoder reads for ``item``: title, text and categories.

    The title is left out when the text already starts with it, and categories the text
    already names are not repeated, so an importer that writes "Title. Genres: a, b." as
    the text is not encoded with everything twice.

    Example:
        >>> item_text(Item("i1", title="Dune", text="A desert planet.", categories=("sf",)))
        'Dune. A desert planet. Categories: sf.'
    """
    text = item.text.strip()
    title = item.title.strip()
    parts = [title] if title and not text.startswith(title) else []
    if text:
        parts.append(text)
    lowered = text.lower()
    missing = [c for c in item.categories if c.lower() not in lowered]
    if missing:
        parts.append(f"Categories: {', '.join(missing)}.")
    return " ".join(_sentence(p) for p in parts)


def user_text(user: User) -> str:
    """Return what a user said about their tastes (``text``), or ``""``."""
    return user.text.strip()


def content_hash(text: str) -> str:
    """Return a short stable digest of ``text`` (16 hex characters)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _sentence(part: str) -> str:
    return part if part.endswith((".", "!", "?")) else f"{part}."
