"""``freshrec serve`` and ``freshrec keys create``, registered on the main command line.

FastAPI and uvicorn are imported inside ``serve`` only, so other commands do not pay for them.
``serve`` loads state and models (``Engine.open``) before it listens, so ``/health/ready``
answers 200 from its first response.
"""

from __future__ import annotations

import enum
import functools
import gc
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from freshrec.errors import FreshrecError

P = ParamSpec("P")
R = TypeVar("R")
# Garbage-collector thresholds of the server process (see ``serve``).
GC_THRESHOLDS = (20_000, 20, 20)
# How long a thread waiting for the GIL lets the holder run before asking it to switch.
# CPython's default, 5 ms, is the wait a request may pay each time a background retrain
# (ALS bookkeeping, the artifact's serialisation) holds the GIL; see ``serve``.
SWITCH_INTERVAL_SECONDS = 0.001

DataOption = Annotated[
    Path, typer.Option("--data", file_okay=False, help="Data directory of the engine.")
]


class KeyScope(enum.StrEnum):
    """What a new key may do."""

    admin = "admin"
    read = "read"
    ingest = "ingest"


def _friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn freshrec's own errors and OS errors into one ``error:`` line and exit code 2."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (FreshrecError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return run


def _count_keys(data: Path) -> int:
    """Return how many API keys the data directory holds, without loading the engine."""
    from freshrec.engine import DB_FILE
    from freshrec.serving.auth import KeyStore
    from freshrec.store import SqliteStore

    if not (data / DB_FILE).is_file():
        return 0
    store = SqliteStore(data / DB_FILE)
    try:
        return len(KeyStore(store))
    finally:
        store.close()


def _log_to_stderr() -> None:
    """Show freshrec's own log lines (the open-access warning, engine warnings) on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
    logger = logging.getLogger("freshrec")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@_friendly
def serve(
    data: DataOption,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    open_access: Annotated[
        bool, typer.Option("--open", help="Serve without API keys (local demos only).")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", exists=True, dir_okay=False, help="Engine settings (JSON)."),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log every request on stderr (off by default: /metrics counts requests).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (one process) until Ctrl-C or SIGTERM, which drain and flush."""
    if not open_access and _count_keys(data) == 0:
        typer.echo(
            f"error: {data} holds no API keys. Create one with\n"
            f"  freshrec keys create --data {data} --scope admin\n"
            "or serve a local demo without keys with --open.",
            err=True,
        )
        raise typer.Exit(2)

    import uvicorn

    from freshrec.config import EngineConfig
    from freshrec.engine import Engine
    from freshrec.serving.app import create_app
    from freshrec.serving.auth import KeyStore

    _log_to_stderr()
    settings = EngineConfig.from_file(config) if config is not None else EngineConfig()
    typer.echo(f"loading {data} ...", err=True)
    engine = Engine.open(data, settings)
    app = create_app(
        engine, auth=None if open_access else KeyStore(engine.store), open_access=open_access
    )
    typer.echo(f"freshrec serving http://{host}:{port} (dashboard: /dashboard)", err=True)
    # Ingest allocates thousands of objects per batch (decoded JSON, events, state entries),
    # so with the default thresholds (700, 10, 10) the collector ran ~3 times per 500-event
    # batch and a full pass every ~80 batches (~120 ms each, landing on requests in flight):
    # 2.3 ms of GC per batch in all, 0.6 ms with these (in-process, 100k-item shop).
    gc.set_threshold(*GC_THRESHOLDS)
    # Answers and ingest run on their own threads beside retrains: a shorter switch interval
    # bounds how long a request waits behind background work holding the GIL.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # A line per request costs ~7 % of the CPU of an answer (measured with py-spy at 500
    # requests/s), so it is opt-in; /metrics has request counts and latencies per route.
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        timeout_graceful_shutdown=30,
        access_log=access_log,
    )


@_friendly
def create_key(
    data: DataOption,
    scope: Annotated[KeyScope, typer.Option("--scope", help="admin, read or ingest.")],
) -> None:
    """Create an API key and print it on stdout (one line); only its hash is stored."""
    from freshrec.engine import DB_FILE
    from freshrec.serving.auth import KeyStore
    from freshrec.store import SqliteStore

    data.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(data / DB_FILE)
    try:
        key = KeyStore(store).create(scope.value)
    finally:
        store.close()
    typer.echo(key)
    typer.echo(f"created a {scope.value} key; it is shown only once", err=True)


keys_app = typer.Typer(name="keys", help="Manage API keys.", no_args_is_help=True)
keys_app.command("create")(create_key)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``keys`` to ``app`` (idempotent: a second call changes nothing)."""
    if not any(command.name == "serve" for command in app.registered_commands):
        app.command("serve")(serve)
    if not any(group.name == "keys" for group in app.registered_groups):
        app.add_typer(keys_app, name="keys")
