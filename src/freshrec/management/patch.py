"""Partial updates of a stored record by JSON Merge Patch (RFC 7396).

A ``PATCH`` names only what changes: a key with a value replaces that key, a key set to
``null`` removes it (the field falls back to its default), and an object merges into the
object it patches key by key, so ``{"properties": {"colour": "red"}}`` changes one property
and keeps the others. Everything not named stays as stored.

>>> merge_patch({"item_id": "i1", "title": "Old", "properties": {"a": 1, "b": 2}},
...             {"title": "New", "properties": {"b": None, "c": 3}}, "item_id")
{'item_id': 'i1', 'title': 'New', 'properties': {'a': 1, 'c': 3}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freshrec.errors import ValidationError


def merge_patch(stored: Mapping[str, Any], changes: Any, id_field: str) -> dict[str, Any]:
    """Return ``stored`` with ``changes`` merged in (RFC 7396); ``stored`` is not modified.

    Raises:
        ValidationError: ``changes`` is not an object, or it changes or removes
            ``id_field`` (a record's id is its name, not one of its fields).
    """
    if not isinstance(changes, Mapping):
        raise ValidationError(
            f"a patch must be a JSON object of the fields to change, got {type(changes).__name__}"
        )
    if id_field in changes and changes[id_field] != stored.get(id_field):
        raise ValidationError("cannot be changed by a patch", id_field)
    return _merged(stored, changes)


def _merged(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merged(result[key], value)
        elif isinstance(value, Mapping):
            result[key] = _merged({}, value)  # nulls inside a new object mean nothing
        else:
            result[key] = value
    return result
