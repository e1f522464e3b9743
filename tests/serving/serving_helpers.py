"""Helpers shared by the HTTP tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any

N_ITEMS = 30
BASE_TIME = 1_700_000_000  # 2023-11-14, as in tests/conftest.py


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def catalogue(n_items: int = N_ITEMS) -> list[dict[str, Any]]:
    """Items i0..: even ones in category "even", odd ones in "odd"."""
    return [
        {
            "item_id": f"i{k}",
            "title": f"Item {k}",
            "categories": ["even" if k % 2 == 0 else "odd"],
            "created_at": BASE_TIME,
        }
        for k in range(n_items)
    ]


def error_of(response: Any) -> dict[str, Any]:
    """Return the ``error`` object of a response, checking the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
