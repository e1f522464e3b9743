"""Signing in to a keyed server's dashboard in a real headless Chromium, through the form.

The browser opens ``/dashboard`` without a key and lands on the sign-in form; a wrong key
shows the form again with why; a read key opens the dashboard. Then: the cookie is out of
the page's scripts' reach and scoped to ``/dashboard``, a same-origin ``fetch`` of the API
from the signed-in page is still refused, a key refused later by the ``KeyStore`` sends the
next page back to the form, and signing out forgets the cookie. The screenshot of the form
goes to the test's tmp folder, and to ``docs/img/dashboard-sign-in.png`` with
``FRESHREC_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from freshrec import Engine
from freshrec.serving import KeyStore, Scope, create_app
from freshrec.serving.dashboard.sign_in import COOKIE

from .browser import NEEDS_CHROMIUM, DevTools, chromium, keep_screenshot, serving
from .serving_helpers import catalogue

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]

UNKNOWN_KEY = "fr_0123456789abcdef_" + "x" * 43
ON_FORM = "location.pathname === '/dashboard/sign-in' && !!document.querySelector('form')"
ON_DASHBOARD = "location.pathname === '/dashboard' && !!document.getElementById('event-rate')"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[str, KeyStore]]:
    """A keyed server over a small catalogue with a few users' events; yields (url, keys)."""
    with Engine.open(None, background_training=False) as engine:
        engine.upsert_items(catalogue())
        engine.ingest(
            [
                {"user_id": f"u{k}", "item_id": f"i{(k * 7 + j) % 30}", "type": "click"}
                for k in range(12)
                for j in range(4)
            ]
        )
        keys = KeyStore(engine.store)
        with serving(create_app(engine, auth=keys, close_engine=False)) as url:
            yield url, keys


def type_key(browser: DevTools, page: str, key: str) -> None:
    """Type ``key`` into the form's focused field, as a person would."""
    focused = browser.evaluate(page, "document.activeElement && document.activeElement.name")
    assert focused == "key"  # autofocus: the field is ready to type into
    browser.call("Input.insertText", page, text=key)


def press(browser: DevTools, page: str, button: str = "form button") -> None:
    browser.evaluate(page, f"document.querySelector({button!r}).click(), true")


def submit(browser: DevTools, page: str, key: str) -> None:
    type_key(browser, page, key)
    press(browser, page)


def text(browser: DevTools, page: str, selector: str) -> str:
    value: str = browser.evaluate(
        page, f"(document.querySelector({selector!r}) || {{}}).textContent || ''"
    )
    return value


def test_signing_in_through_the_form(
    keyed: tuple[str, KeyStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, keys = keyed
    read_key = keys.create(Scope.READ)
    with chromium(tmp_path) as browser:
        page = browser.open_page(width=1000, height=560)
        browser.call("Page.navigate", page, url=f"{url}/dashboard?user=u1")
        browser.wait_until(page, ON_FORM)
        assert browser.evaluate(page, "document.scripts.length") == 0  # no script needed

        submit(browser, page, UNKNOWN_KEY)
        browser.wait_until(page, f"{ON_FORM} && !!document.querySelector('.warn')")
        wrong = text(browser, page, ".warn")

        type_key(browser, page, read_key)
        form = browser.screenshot(page, tmp_path / "dashboard-sign-in.png")
        press(browser, page)
        browser.wait_until(page, ON_DASHBOARD)
        sign_out_shown = text(browser, page, "form.sign-out button")
        script_sees = browser.evaluate(page, "document.cookie")
        cookies = browser.call("Network.getCookies", page, urls=[f"{url}/dashboard"])["cookies"]
        api_cookies = browser.call("Network.getCookies", page, urls=[f"{url}/v1/items"])
        # The signed-in page itself cannot use the sign-in on the API.
        api_status = browser.evaluate(
            page,
            "Promise.all(['/v1/items/i1', '/metrics'].map("
            "u => fetch(u, {credentials: 'include'}).then(r => r.status)))",
        )

        # The key is refused from now on (revoked or expired): the next page is the form.
        authenticate = keys.authenticate
        monkeypatch.setattr(
            keys, "authenticate", lambda k: None if k == read_key else authenticate(k)
        )
        browser.call("Page.navigate", page, url=f"{url}/dashboard")
        browser.wait_until(page, f"{ON_FORM} && !!document.querySelector('.warn')")
        revoked = text(browser, page, ".warn")
        cookies_after_revoke = browser.call("Network.getCookies", page, urls=[f"{url}/dashboard"])[
            "cookies"
        ]
        monkeypatch.setattr(keys, "authenticate", authenticate)

        submit(browser, page, read_key)
        browser.wait_until(page, ON_DASHBOARD)
        press(browser, page, "form.sign-out button")
        browser.wait_until(page, f"{ON_FORM} && !!document.querySelector('.warn')")
        signed_out = text(browser, page, ".warn")
        cookies_after_sign_out = browser.call(
            "Network.getCookies", page, urls=[f"{url}/dashboard"]
        )["cookies"]
        requested = browser.requested()
        errors = browser.errors()

    assert "Unknown, revoked or expired API key" in wrong
    assert sign_out_shown == "Sign out"
    assert script_sees == ""  # HttpOnly
    [cookie] = cookies
    assert cookie["name"] == COOKIE and cookie["path"] == "/dashboard"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert read_key not in cookie["value"] and read_key.split("_", 2)[2] not in cookie["value"]
    assert api_cookies["cookies"] == []  # the browser does not even send it to the API
    assert api_status == [401, 401]
    assert "no longer valid" in revoked and cookies_after_revoke == []
    assert signed_out == "Signed out." and cookies_after_sign_out == []
    assert requested and all(u.startswith(f"{url}/") for u in requested), requested
    # The refusals asked for above (the wrong key, the API fetches) are logged as failed
    # loads; nothing else may be.
    unexpected = [
        e
        for e in errors
        if "status of 401" not in e.get("params", {}).get("entry", {}).get("text", "")
    ]
    assert unexpected == []
    assert form.stat().st_size < 300_000
    keep_screenshot(form, "dashboard-sign-in.png")
