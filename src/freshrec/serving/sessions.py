"""Dashboard sign-in sessions: a random token in the browser, the key kept in the server.

A browser does not send bearer keys by itself, so the dashboard's sign-in form takes a key
once and sets a cookie. The cookie holds a random token, not the key: a copied cookie jar
gives nothing usable against the API, and the token dies with the server process (signing
in again after a restart is the price). The key stays in this process's memory so that every
request re-checks it with ``KeyStore.authenticate``: a key revoked or expired later is
refused at the dashboard's next request, not when the session ends.

>>> sessions = DashboardSessions(lifetime_seconds=60, max_sessions=2)
>>> token = sessions.open("fr_key", now=0.0)
>>> sessions.key_of(token, now=30.0)
'fr_key'
>>> sessions.key_of(token, now=61.0) is None
True
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

# How long a sign-in lasts (the cookie's Max-Age too): a working day.
LIFETIME_SECONDS = 8 * 3600
# Sign-ins kept at once; the oldest is dropped beyond it (memory stays bounded however often
# someone signs in).
MAX_SESSIONS = 10_000


class DashboardSessions:
    """Tokens of signed-in dashboard browsers and the key each signed in with; thread-safe.

    Args:
        lifetime_seconds: a token is refused this long after its sign-in.
        max_sessions: beyond this many, the oldest sign-in is forgotten.
    """

    def __init__(
        self, lifetime_seconds: float = LIFETIME_SECONDS, max_sessions: int = MAX_SESSIONS
    ) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._max = max_sessions
        self._lock = threading.Lock()
        # token -> (key, when it signed in in monotonic seconds), oldest first
        self._open: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def open(self, key: str, now: float | None = None) -> str:
        """Start a session for ``key`` (already checked by the caller); return its token.

        The token has 256 random bits, URL-safe (a cookie value as it is).
        """
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._open[token] = (key, time.monotonic() if now is None else now)
            while len(self._open) > self._max:
                self._open.popitem(last=False)
        return token

    def key_of(self, token: str, now: float | None = None) -> str | None:
        """Return the key a live session signed in with, or None (unknown or too old)."""
        current = time.monotonic() if now is None else now
        with self._lock:
            held = self._open.get(token)
            if held is None:
                return None
            key, started = held
            if current - started > self.lifetime_seconds:
                del self._open[token]
                return None
            return key

    def close(self, token: str) -> None:
        """Forget a session (sign-out, or its key was refused); unknown tokens are ignored."""
        with self._lock:
            self._open.pop(token, None)

    def __len__(self) -> int:
        return len(self._open)
