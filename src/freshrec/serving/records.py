"""Shaping request bodies into the records the engine validates."""

from __future__ import annotations

from typing import Any

from freshrec.serving.errors import ApiError


def with_path_id(raw: Any, key: str, path_id: str, what: str) -> dict[str, Any]:
    """Return the body of a ``PUT`` with the id from its path filled in.

    Raises:
        ApiError: 400 when the body is not an object or names a different id.
    """
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid", f"{what} must be a JSON object")
    if key in raw and raw[key] != path_id:
        raise ApiError(400, "invalid", "does not match the id in the path", key)
    return {**raw, key: path_id}


def record_list(raw: Any, what: str) -> list[Any]:
    """Return the body of a batch ``POST``, which must be a JSON list.

    Raises:
        ApiError: 400 when it is not a list.
    """
    if not isinstance(raw, list):
        raise ApiError(400, "invalid", f"expected a JSON list of {what}")
    return raw
