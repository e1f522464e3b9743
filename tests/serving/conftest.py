"""Fixtures for HTTP tests: a fresh in-memory engine, API keys of each scope, a test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.config import EngineConfig
from freshrec.serving import KeyStore, Scope, create_app

from .serving_helpers import bearer, catalogue


@pytest.fixture
def engine(engine_config: EngineConfig) -> Iterator[Engine]:
    engine = Engine.open(None, engine_config)
    yield engine
    engine.close()


@pytest.fixture
def keystore(engine: Engine) -> KeyStore:
    return KeyStore(engine.store)


@pytest.fixture
def keys(keystore: KeyStore) -> dict[Scope, str]:
    return {scope: keystore.create(scope) for scope in Scope}


@pytest.fixture
def client(engine: Engine, keystore: KeyStore, keys: dict[Scope, str]) -> Iterator[TestClient]:
    """A client that sends the admin key by default (pass ``headers=`` to override)."""
    app = create_app(engine, auth=keystore)
    with TestClient(app, headers=bearer(keys[Scope.ADMIN])) as client:
        yield client


@pytest.fixture
def seeded(client: TestClient, engine: Engine, make_events: Any) -> TestClient:
    """The client over an engine holding the catalogue and 300 events of 20 users."""
    engine.upsert_items(catalogue())
    engine.ingest(make_events())
    # Texts are encoded on a worker thread and each encoded batch may change answers (new
    # items get content factors), which would empty the cache at a random moment: settle it.
    engine.encode_pending()
    return client
