"""``freshrec demo --serve``: a synthetic shop served over HTTP, with live traffic and a dashboard.

One process does everything ``make demo`` shows:

1. loads a synthetic shop (items, users, a first batch of events, one ``train()``) into a
   durable engine, with the shop's history shifted so that it ends now;
2. reopens the engine as ``freshrec serve`` does (state and model loaded before listening,
   background retrains on) and serves it in the main thread, open access, with uvicorn;
3. sends simulated shoppers (``LiveShoppers``) *through the HTTP API* from a background
   thread: recommendation requests, views, clicks (with the ``recommendation_id`` of the
   answer they came from), carts and purchases, paced at a given event rate;
4. prints the dashboard URL and stops cleanly on Ctrl-C, SIGTERM or after ``duration``:
   the traffic stops, the server drains, the engine flushes and closes, exit code 0.

FastAPI, uvicorn and httpx are imported here only, so the other commands do not load them.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import uvicorn

from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.serving.app import create_app
from freshrec.simulate import ShopConfig, SyntheticShop
from freshrec.simulate.live import LiveShoppers

log = logging.getLogger(__name__)

LOAD_BATCH = 1_000
TICK_SECONDS = 0.1
# The spotlight visitor acts this often (the dashboard refreshes every 5 s).
SPOTLIGHT_EVERY_SECONDS = 2.0
REPORT_EVERY_SECONDS = 15.0
RECOMMENDATIONS_SHOWN = 10
MAX_BATCH = 500
READY_TIMEOUT_SECONDS = 30.0
DRAIN_SECONDS = 10

Say = Callable[[str], None]

# The shop has new items arriving: one home slot in ten goes to them (exploration).
DEMO_CONFIG = EngineConfig.from_dict({"scenarios": {"new_item_share": 0.1}})


def _print(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``freshrec demo --serve`` was asked for.

    Attributes:
        shop: size and seed of the synthetic shop.
        data: data directory to open or create; None makes a temporary one, removed at exit.
        host: interface to listen on.
        port: TCP port; 0 picks a free one.
        rate: simulated events per second sent through HTTP.
        duration: stop by itself after this many seconds of serving; None runs until
            Ctrl-C or SIGTERM.
    """

    shop: ShopConfig
    data: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    rate: float = 200.0
    duration: float | None = None


def run(options: DemoOptions, say: Say = _print) -> None:
    """Load the shop, serve it with live traffic until stopped, then close everything.

    Returns normally after Ctrl-C or SIGTERM (at any stage) and after ``duration``.

    Args:
        options: what to serve and how much traffic to send.
        say: where the lines for the person watching go (stdout by default).

    Raises:
        OSError: the address cannot be listened on (checked before anything is loaded), or
            the data directory cannot be written.
        FreshrecError: the data directory holds an unreadable store.
    """
    listener = listen(options.host, options.port)
    url = f"http://{_url_host(options.host)}:{listener.getsockname()[1]}"
    temporary = options.data is None
    data = Path(tempfile.mkdtemp(prefix="freshrec-demo-")) if options.data is None else options.data
    _log_to_stderr()
    shop = SyntheticShop(options.shop)
    try:
        # Until the server takes over the signals (and after it hands them back), a signal
        # interrupts like Ctrl-C, so the engine still closes and the temporary data goes.
        with _signals_interrupt():
            load_shop(data, shop, say)
            _serve(data, shop, listener, url, options, say)
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        listener.close()
        if temporary:
            shutil.rmtree(data, ignore_errors=True)
            say(f"removed {data} (pass --data DIR to keep the data)")


# -- loading ----------------------------------------------------------------------------------


def load_shop(data: Path, shop: SyntheticShop, say: Say = _print) -> None:
    """Fill the durable engine in ``data`` with ``shop`` and train once, unless it has events.

    The shop's timestamps (events and item creation) are shifted by whole seconds so that its
    last event happens now: live traffic then continues its history instead of starting
    months after it.
    """
    config = shop.config
    settings = DEMO_CONFIG
    settings = settings.model_copy(
        update={"training": settings.training.model_copy(update={"retrain_every_events": 0})}
    )
    with Engine.open(data, settings, background_training=False) as engine:
        stored = engine.stats()["events"]
        if stored:
            say(f"reusing {data}: {stored:,} events already stored, nothing loaded")
            return
        say(
            f"loading a synthetic shop into {data}: {config.n_users:,} users, "
            f"{config.n_items:,} items, {config.n_events:,} events (seed {config.seed}) ..."
        )
        started = time.perf_counter()
        last = max((int(chunk.timestamp[-1]) for chunk in shop.events_arrays()), default=0)
        shift = int(time.time()) - 1 - last if last else 0
        engine.upsert_items(
            {**item, "created_at": item["created_at"] + shift} for item in shop.items()
        )
        engine.upsert_users(shop.users())
        batch: list[dict[str, Any]] = []
        for event in shop.events():
            batch.append({**event, "timestamp": event["timestamp"] + shift})
            if len(batch) == LOAD_BATCH:
                engine.ingest(batch)
                batch = []
        if batch:
            engine.ingest(batch)
        stats = engine.stats()
        version = engine.train() if stats["events"] >= settings.training.min_events else "none yet"
        seconds = time.perf_counter() - started
        say(f"stored {stats['events']:,} events, trained model {version} in {seconds:.1f} s")


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` (cleanup still runs).

    SIGINT too, because a process started in the background by a shell inherits an ignored
    SIGINT; uvicorn routes both signals itself while it serves.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, interrupt) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- serving ----------------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """Return a socket bound to ``host:port`` (0 picks a port), before anything is loaded.

    Raises:
        OSError: the address is taken or cannot be used; the message names it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise OSError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port)"
        ) from None
    listener.set_inheritable(True)
    return listener


def _url_host(host: str) -> str:
    """The host as it goes in a URL: wildcard addresses become loopback, IPv6 gets brackets."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class DemoServer(uvicorn.Server):
    """A uvicorn server whose signals stop the traffic too and end the process with code 0.

    uvicorn re-raises a captured SIGINT or SIGTERM after its graceful shutdown, which would
    end the process with a KeyboardInterrupt or a signal status; the demo has already cleaned
    up by then, so it only records the signal.

    Args:
        config: uvicorn settings.
        on_exit: called (from the signal handler) when a signal asks the server to stop.
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to ``handle_exit`` while serving; restore them after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop the traffic, then let uvicorn drain (a second Ctrl-C forces the exit)."""
        self.on_exit()
        super().handle_exit(sig, frame)

    def request_exit(self) -> None:
        """Ask the server to drain and stop, as a signal would; safe from any thread."""
        self.should_exit = True


def _serve(
    data: Path,
    shop: SyntheticShop,
    listener: socket.socket,
    url: str,
    options: DemoOptions,
    say: Say,
) -> None:
    """Serve the engine in ``data`` with live traffic until a signal or the duration."""
    say(f"opening {data} to serve it (state and model load before the port answers) ...")
    engine = Engine.open(data, DEMO_CONFIG)
    try:
        app = create_app(engine, auth=None, open_access=True, close_engine=False)
        config = uvicorn.Config(
            app,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=DRAIN_SECONDS,
        )
        shoppers = LiveShoppers(shop, seed=shop.config.seed)
        traffic = LiveTraffic(url, shoppers, options.rate, say, options.duration)
        server = DemoServer(config, on_exit=traffic.stop)
        traffic.on_finished = server.request_exit
        traffic.start()
        try:
            server.run(sockets=[listener])
        finally:
            traffic.stop()
            traffic.join(timeout=DRAIN_SECONDS)
        say(traffic.summary())
        stats = engine.stats()
    finally:
        engine.close()
    say(
        f"stopped: server drained, engine closed; {stats['events']:,} events in the log, "
        f"model {stats['model_version']}"
    )


def _log_to_stderr() -> None:
    """Show freshrec's own log lines (the open-access warning, retrains) on stderr."""
    logger = logging.getLogger("freshrec")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


# -- live traffic -----------------------------------------------------------------------------


@dataclass
class TrafficCounts:
    """What the traffic thread has sent so far.

    Attributes:
        events: events the server accepted (or counted as duplicates).
        rejected: events the server refused.
        requests: recommendation requests answered.
        from_recommendations: events carrying a ``recommendation_id``.
        failures: HTTP calls that failed or answered an unexpected status.
    """

    events: int = 0
    rejected: int = 0
    requests: int = 0
    from_recommendations: int = 0
    failures: int = 0


@dataclass
class _Pacer:
    """Token bucket of events: ``rate`` per second, at most one second of backlog."""

    rate: float
    budget: float = 0.0
    last: float = field(default_factory=time.monotonic)

    def refill(self, now: float) -> int:
        self.budget = min(self.budget + self.rate * (now - self.last), max(self.rate, 1.0))
        self.last = now
        return int(self.budget)

    def spend(self, count: int) -> None:
        self.budget -= count


class LiveTraffic(threading.Thread):
    """A daemon thread sending ``LiveShoppers`` traffic to a server over HTTP.

    It waits for ``/health/ready``, prints where to look, then every tick starts sessions
    (each opens with ``GET /v1/recommendations/{user}``) until enough events are queued and
    posts the due ones as one ``POST /v1/events`` batch. Every ``SPOTLIGHT_EVERY_SECONDS`` the
    spotlight visitor fetches their recommendations and acts on them.

    Args:
        url: base URL of the server.
        shoppers: who acts and how.
        rate: events per second to send (about; recommendation requests come on top).
        say: where progress lines go.
        duration: seconds of traffic after the server is ready; None sends until ``stop``.

    Attributes:
        on_finished: called when the thread ends by itself (``duration`` reached, the server
            never ready, an unexpected error), not after ``stop``; the demo sets it to stop
            the server.
        counts: what has been sent so far.
    """

    def __init__(
        self,
        url: str,
        shoppers: LiveShoppers,
        rate: float,
        say: Say = _print,
        duration: float | None = None,
    ) -> None:
        super().__init__(name="freshrec-demo-traffic", daemon=True)
        self.url = url
        self.shoppers = shoppers
        self.rate = rate
        self.say = say
        self.duration = duration
        self.on_finished: Callable[[], None] = lambda: None
        self.counts = TrafficCounts()
        self._stop_event = threading.Event()
        self._queue: deque[dict[str, Any]] = deque()
        self._began = 0.0
        self._complained = False

    def stop(self) -> None:
        """Ask the thread to stop after its current HTTP call (safe from signal handlers)."""
        self._stop_event.set()

    def run(self) -> None:
        """Send traffic until stopped or ``duration`` has passed, then call ``on_finished``."""
        try:
            # trust_env=False: a proxy configured for the outside world must not see loopback.
            with httpx.Client(base_url=self.url, timeout=10.0, trust_env=False) as client:
                if not self._wait_ready(client):
                    return
                self._announce()
                self._began = time.monotonic()
                if self.duration is None:
                    self._loop(client, None)
                    return
                self._loop(client, self._began + self.duration)
                if not self._stop_event.is_set():
                    self.say(f"--duration {self.duration:g} s reached: stopping")
        finally:
            if not self._stop_event.is_set():
                self.on_finished()

    def summary(self) -> str:
        """Return one line saying what was sent."""
        c = self.counts
        seconds = max(time.monotonic() - self._began, 1e-9) if self._began else 0.0
        rate = f" ({c.events / seconds:.0f}/s)" if seconds else ""
        return (
            f"traffic: {c.events:,} events sent{rate}, {c.requests:,} recommendation requests, "
            f"{c.from_recommendations:,} events from recommendations, "
            f"{c.rejected:,} rejected, {c.failures:,} failed calls"
        )

    # -- internals ----------------------------------------------------------------------------

    def _wait_ready(self, client: httpx.Client) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._stop_event.is_set() and time.monotonic() < deadline:
            try:
                if client.get("/health/ready").status_code == 200:
                    return True
            except httpx.TransportError:
                self._stop_event.wait(0.05)  # not listening yet: poll again
                continue
            self._stop_event.wait(0.05)
        if not self._stop_event.is_set():
            self.say("traffic: the server did not become ready; no traffic sent")
        return False

    def _announce(self) -> None:
        url, visitor = self.url, self.shoppers.spotlight_user
        n_users = self.shoppers.shop.config.n_users
        self.say(
            "\n"
            f"freshrec demo is serving {url} (open access: local use only)\n"
            f"  dashboard        {url}/dashboard\n"
            f"  watch a visitor  {url}/dashboard?user={visitor}"
            f"   (their interest moves every {self.shoppers.spotlight_seconds:g} s)\n"
            f"  any shopper      {url}/dashboard?user=u1   (u0 .. u{n_users - 1})\n"
            f"  try              curl -s '{url}/v1/recommendations/u1?n=5'\n"
            f"  send an event    curl -s -X POST {url}/v1/events "
            "-H 'content-type: application/json' "
            '-d \'{"user_id": "u1", "item_id": "i3", "type": "click"}\'\n'
            f"  API docs         {url}/docs\n"
            f"Simulated shoppers browse, click and buy through the HTTP API at about "
            f"{self.rate:g} events/s. Ctrl-C stops.\n"
        )

    def _loop(self, client: httpx.Client, deadline: float | None) -> None:
        pacer = _Pacer(self.rate)
        next_spotlight = time.monotonic()
        next_report = next_spotlight + REPORT_EVERY_SECONDS
        interest = ""
        while not self._stop_event.wait(TICK_SECONDS):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if now >= next_spotlight:
                next_spotlight += SPOTLIGHT_EVERY_SECONDS
                interest = self._spotlight(client, now, interest)
            due = pacer.refill(now)
            while len(self._queue) < due and not self._stop_event.is_set():
                user_id = self.shoppers.pick_user()
                shown, recommendation_id = self._recommendations(client, user_id)
                self._queue.extend(self.shoppers.session(user_id, shown, recommendation_id))
            batch = [self._queue.popleft() for _ in range(min(due, len(self._queue), MAX_BATCH))]
            pacer.spend(len(batch))
            self._post(client, batch)
            if now >= next_report:
                next_report += REPORT_EVERY_SECONDS
                self.say(f"{time.strftime('%H:%M:%S')} {self.summary()}")

    def _spotlight(self, client: httpx.Client, now: float, interest: str) -> str:
        shown, recommendation_id = self._recommendations(client, self.shoppers.spotlight_user)
        current, events = self.shoppers.spotlight(now - self._began, shown, recommendation_id)
        if current != interest:
            self.say(f"{time.strftime('%H:%M:%S')} {self.shoppers.spotlight_user} now browses "
                     f"{current}")  # fmt: skip
        self._post(client, events)
        return current

    def _recommendations(self, client: httpx.Client, user_id: str) -> tuple[list[str], str | None]:
        """Return the item ids shown to ``user_id`` and the answer's id (none on failure)."""
        try:
            response = client.get(
                f"/v1/recommendations/{user_id}", params={"n": RECOMMENDATIONS_SHOWN}
            )
        except httpx.HTTPError as exc:
            self._failed(f"GET recommendations: {exc}")
            return [], None
        if response.status_code != 200:
            self._failed(f"GET recommendations answered {response.status_code}: {response.text}")
            return [], None
        self.counts.requests += 1
        body = response.json()
        return [item["item_id"] for item in body["items"]], body["recommendation_id"]

    def _post(self, client: httpx.Client, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        stamp = time.time()
        stamped = [{**event, "timestamp": stamp} for event in events]
        try:
            response = client.post("/v1/events", json=stamped)
        except httpx.HTTPError as exc:
            self._failed(f"POST events: {exc}")
            return
        if response.status_code != 202:
            self._failed(f"POST events answered {response.status_code}: {response.text}")
            return
        body = response.json()
        self.counts.events += body["accepted"] + body["duplicates"]
        self.counts.rejected += len(body["errors"])
        self.counts.from_recommendations += sum("recommendation_id" in e for e in events)

    def _failed(self, message: str) -> None:
        self.counts.failures += 1
        if self._stop_event.is_set():
            return  # calls cut short by the shutdown are expected
        if not self._complained:
            self._complained = True
            self.say(f"traffic: {message} (further failures are only counted)")
