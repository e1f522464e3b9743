"""``freshrec serve`` and ``freshrec keys create|list|revoke``, registered on the main CLI.

FastAPI and uvicorn are imported inside ``serve`` only, so other commands do not pay for them.
``serve`` checks that it can listen on its port, then loads state and models (``Engine.open``)
before it listens, so ``/health/ready`` answers 200 from its first response.

The ``keys`` commands open the store directly, also while a server runs on the directory:
they take no writer lock (keys are not the engine's state), and a server notices their
changes from its next request (``freshrec.serving.auth``).
"""

from __future__ import annotations

import enum
import errno
import functools
import gc
import json
import logging
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from freshrec import cli_output as show
from freshrec.errors import FreshrecError

if TYPE_CHECKING:
    from freshrec.serving.auth import KeyStore

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
ExistingDataOption = Annotated[
    Path,
    typer.Option("--data", exists=True, file_okay=False, help="Data directory of the engine."),
]
# ``--expires-in`` units, in seconds.
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


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


@contextmanager
def _key_store(data: Path) -> Iterator[KeyStore]:
    """The API keys of ``data`` (its store is created when missing), without the engine."""
    from freshrec.engine import DB_FILE
    from freshrec.serving.auth import CHANGES_FILE, KeyStore
    from freshrec.store import SqliteStore

    store = SqliteStore(data / DB_FILE)
    try:
        yield KeyStore(store, changes=data / CHANGES_FILE)
    finally:
        store.close()


def _has_store(data: Path) -> bool:
    from freshrec.engine import DB_FILE

    return (data / DB_FILE).is_file()


def _count_usable_keys(data: Path) -> int:
    """Return how many keys of ``data`` are neither revoked nor expired (nothing is created)."""
    from freshrec.serving.auth import KeyStatus

    if not _has_store(data):
        return 0
    with _key_store(data) as keys:
        return sum(info.status is KeyStatus.ACTIVE for info in keys.list_keys())


def _check_port(host: str, port: int) -> None:
    """Exit with status 2, naming the port, when nothing can listen on ``host:port``.

    Binds a probe socket the way uvicorn binds its own (``SO_REUSEADDR``, so the sockets a
    server that just stopped leaves in TIME_WAIT do not count as taken).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                message = (
                    f"port {port} on {host} is already in use by another process; "
                    f"stop that process or choose another port with --port"
                )
            else:
                reason = exc.strerror or str(exc)
                message = f"cannot listen on {host} port {port}: {reason} (see --host and --port)"
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2) from None


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
            "--access-log",
            help="Log every request on stderr (off by default: /metrics counts requests).",
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            metavar="<origin>",
            help="Let pages from this origin (https://shop.example) call the API from a "
            "browser (CORS); repeatable, added to serving.cors_origins.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (one process) until Ctrl-C or SIGTERM, which drain and flush."""
    if not open_access and _count_usable_keys(data) == 0:
        typer.echo(
            f"error: {data} holds no usable API keys (none, or all revoked or expired). "
            "Create one with\n"
            f"  freshrec keys create --data {data} --scope admin\n"
            "or serve a local demo without keys with --open.",
            err=True,
        )
        raise typer.Exit(2)

    import uvicorn

    from freshrec.config import EngineConfig
    from freshrec.engine import Engine
    from freshrec.serving.app import create_app
    from freshrec.serving.auth import CHANGES_FILE, KeyStore

    _log_to_stderr()
    settings = EngineConfig.from_file(config) if config is not None else EngineConfig()
    if cors_origin:  # checked here, before loading: a bad origin exits 2 at once
        origins = [*settings.serving.cors_origins, *cors_origin]
        settings = settings.merged({"serving": {"cors_origins": origins}})
    _check_port(host, port)  # after the options, before loading (which may take minutes)
    typer.echo(f"loading {data} ...", err=True)
    engine = Engine.open(data, settings)
    app = create_app(
        engine,
        auth=None if open_access else KeyStore(engine.store, changes=data / CHANGES_FILE),
        open_access=open_access,
    )
    try:
        _check_port(host, port)  # again: something may have taken it while loading
    except typer.Exit:
        engine.close()
        raise
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


def _expiry(expires_in: str | None, expires: str | None, now: float) -> float | None:
    """Unix seconds of the expiry that ``--expires-in`` or ``--expires`` asks for, or None.

    Raises:
        typer.BadParameter: both given, unreadable, or not in the future (naming the option).
    """
    if expires_in is not None and expires is not None:
        raise typer.BadParameter(
            "give one of them, not both", param_hint="--expires-in / --expires"
        )
    if expires_in is not None:
        match = _DURATION.match(expires_in)
        if match is None or int(match.group(1)) == 0:
            raise typer.BadParameter(
                f"{expires_in!r} is not a duration: a whole number above 0 and a unit, "
                "s, m, h, d or w (90m, 12h, 30d, 8w)",
                param_hint="--expires-in",
            )
        return now + int(match.group(1)) * DURATION_UNITS[match.group(2)]
    if expires is None:
        return None
    try:
        moment = datetime.fromisoformat(expires.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{expires!r} is not an ISO-8601 date or time (2027-01-31, 2027-01-31T18:00:00Z)",
            param_hint="--expires",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    at = moment.timestamp()
    if at <= now:
        raise typer.BadParameter(f"{expires} is not in the future", param_hint="--expires")
    return at


def _shown_time(seconds: float | None, missing: str) -> str:
    """A time for people: ``2026-11-22 10:00 UTC``; ``missing`` when None."""
    if seconds is None:
        return missing
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


@_friendly
def create_key(
    data: DataOption,
    scope: Annotated[KeyScope, typer.Option("--scope", help="admin, read or ingest.")],
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            metavar="<duration>",
            help="Refuse the key after this long: a number and s, m, h, d or w (30d, 12h).",
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            metavar="<time>",
            help="Refuse the key from this ISO-8601 time on (2027-01-31T18:00:00Z; UTC when "
            "no offset is given).",
        ),
    ] = None,
) -> None:
    """Create an API key and print it on stdout (one line); only its hash is stored.

    Without --expires-in or --expires the key is valid until it is revoked.
    """
    from freshrec.simulate.vocabulary import with_article

    expires_at = _expiry(expires_in, expires, time.time())
    made = not data.exists()
    data.mkdir(parents=True, exist_ok=True)
    if made:
        # A first key may come before anything else (the README's first step), so the
        # directory is made; saying so shows a mistyped --data before the server is pointed
        # at the real one and finds no keys there.
        typer.echo(f"created a new, empty data directory {data}", err=True)
    with _key_store(data) as keys:
        key = keys.create(scope.value, expires_at)
    typer.echo(key)
    until = "" if expires_at is None else f", valid until {_shown_time(expires_at, '')}"
    typer.echo(f"created {with_article(scope.value)} key{until}; it is shown only once", err=True)


@_friendly
def list_keys(
    data: ExistingDataOption,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print one JSON line: {"keys": [...]}.')
    ] = False,
) -> None:
    """List the API keys: id, scope, created, last used, expiry and status (no secrets).

    Revoked and expired keys are listed too. "last used" is written by a running server at
    most once a minute (and when it stops), so while one runs it may be up to a minute old.
    """
    if not _has_store(data):
        listed = []
    else:
        with _key_store(data) as keys:
            listed = keys.list_keys()
    if as_json:
        typer.echo(json.dumps({"keys": [info.to_dict() for info in listed]}))
        return
    if not listed:
        show.out.print(f"{data} holds no API keys; create one with freshrec keys create")
        return
    show.out.print(show.keys_table(f"API keys of {data}", listed, _shown_time))


@_friendly
def revoke_key(
    data: ExistingDataOption,
    key_id: Annotated[
        str,
        typer.Argument(
            metavar="KEY_ID", help="The key's id, as `freshrec keys list` shows it (or the key)."
        ),
    ],
) -> None:
    """Revoke an API key: refused from the next request on, by a running server too."""
    from freshrec.serving.auth import UnknownKeyError

    if not _has_store(data):
        raise UnknownKeyError(f"{data} holds no API keys")
    with _key_store(data) as keys:
        before = {info.key_id: info.revoked_at for info in keys.list_keys()}
        revoked = keys.revoke(key_id)
    if before.get(revoked.key_id) is not None:
        when = _shown_time(revoked.revoked_at, "")
        typer.echo(f"key {revoked.key_id} was already revoked ({when})")
        return
    typer.echo(f"revoked key {revoked.key_id} ({revoked.scope.value} scope)")


keys_app = typer.Typer(
    name="keys", help="Manage API keys.", no_args_is_help=True, cls=show.FlagHelpGroup
)
keys_app.command("create")(create_key)
keys_app.command("list")(list_keys)
keys_app.command("revoke")(revoke_key)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``keys`` to ``app`` (idempotent: a second call changes nothing)."""
    if not any(command.name == "serve" for command in app.registered_commands):
        app.command("serve")(serve)
    if not any(group.name == "keys" for group in app.registered_groups):
        app.add_typer(keys_app, name="keys")
