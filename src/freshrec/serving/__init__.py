"""The HTTP service: FastAPI app factory, routes, schemas, API keys, cache and metrics.

Exports resolve lazily, so ``freshrec keys create`` and the other commands do not import
FastAPI just because the command line knows about ``serve``.

>>> from freshrec import Engine
>>> from freshrec.serving import create_app
>>> app = create_app(Engine.open(None), auth=None, open_access=True)
>>> sorted(path for path in app.openapi()["paths"] if path.startswith("/health"))
['/health/live', '/health/ready']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freshrec.serving.app import create_app
    from freshrec.serving.auth import KeyStore, Scope

_EXPORTS = {"create_app": "app", "KeyStore": "auth", "Scope": "auth"}

__all__ = ["KeyStore", "Scope", "create_app"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"freshrec.serving.{module}"), name)
