"""Signing a browser in to the dashboard of a keyed server, through the app factory."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.serving import KeyStore, Scope, create_app
from freshrec.serving.dashboard.sign_in import COOKIE, SIGN_IN

from .serving_helpers import bearer, error_of

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # as a browser asks


@pytest.fixture
def browser(engine: Engine, keystore: KeyStore) -> Iterator[TestClient]:
    """A client that behaves like a browser: asks for HTML, sends no key, keeps cookies."""
    app = create_app(engine, auth=keystore)
    with TestClient(app, headers=HTML, follow_redirects=False) as client:
        yield client


def sign_in(browser: TestClient, key: str) -> str:
    """Sign in with ``key``; return the session token the cookie holds."""
    response = browser.post(SIGN_IN, data={"key": key})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard"
    token = browser.cookies.get(COOKIE, path="/dashboard")
    assert token
    return token


def test_a_browser_without_a_key_is_sent_to_a_form_that_needs_nothing_else(
    browser: TestClient,
) -> None:
    response = browser.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"] == SIGN_IN
    form = browser.get(SIGN_IN)
    assert form.status_code == 200
    page = form.text
    assert f"<form method=post action={SIGN_IN}>" in page
    assert "name=key type=password" in page
    assert not re.search(r"<(script|img|iframe|object|embed)\b", page)  # works without script
    assert not re.findall(r"https?://", page)  # nothing from another host
    policy = form.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert form.headers["cache-control"] == "no-store"


def test_a_client_that_does_not_ask_for_html_still_gets_the_json_401(
    browser: TestClient,
) -> None:
    response = browser.get("/dashboard", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_signing_in_sets_a_narrow_cookie_and_shows_the_dashboard(
    browser: TestClient, keys: dict[Scope, str]
) -> None:
    response = browser.post(SIGN_IN, data={"key": keys[Scope.READ]})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/dashboard" in cookie and "SameSite=lax" in cookie
    assert "secure" not in attributes  # plain http here (see the https test)
    assert keys[Scope.READ] not in cookie and keys[Scope.READ].split("_", 2)[2] not in cookie
    page = browser.get("/dashboard")
    assert page.status_code == 200
    assert "<h2>Live traffic</h2>" in page.text
    assert "action=/dashboard/sign-out" in page.text


def test_an_admin_key_signs_in_too(browser: TestClient, keys: dict[Scope, str]) -> None:
    sign_in(browser, keys[Scope.ADMIN])
    assert browser.get("/dashboard").status_code == 200


def test_the_cookie_is_secure_over_https(engine: Engine, keystore: KeyStore) -> None:
    key = keystore.create(Scope.READ)
    app = create_app(engine, auth=keystore)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = client.post(SIGN_IN, data={"key": key})
    assert "; secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [
        ("fr_0123456789abcdef_" + "x" * 43, 401, "Unknown, revoked or expired API key"),
        ("", 401, "Enter an API key."),
        (
            "INGEST",
            403,
            "A key with scope &#x27;ingest&#x27; cannot open the dashboard: use a read or "
            "admin key.",
        ),
    ],
)
def test_a_wrong_key_shows_the_form_again_with_why(
    browser: TestClient, keys: dict[Scope, str], key: str, status: int, message: str
) -> None:
    key = keys[Scope.INGEST] if key == "INGEST" else key
    response = browser.post(SIGN_IN, data={"key": key})
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    assert f"<p class=warn role=alert>{message}" in response.text
    assert f"<form method=post action={SIGN_IN}>" in response.text
    assert key == "" or key not in response.text  # the key is not echoed into the page


def test_the_cookie_opens_no_api_route(browser: TestClient, keys: dict[Scope, str]) -> None:
    token = sign_in(browser, keys[Scope.ADMIN])
    # The browser would not even send it there (Path=/dashboard); the server ignores it too.
    as_cookie = {"Cookie": f"{COOKIE}={token}", "Accept": "application/json"}
    for method, path in [
        ("GET", "/v1/recommendations/u1"),
        ("GET", "/metrics"),
        ("POST", "/v1/events"),
        ("PUT", "/v1/items/i1"),
    ]:
        response = browser.request(method, path, headers=as_cookie, json={})
        assert response.status_code == 401, path
        assert "missing API key" in error_of(response)["message"]


def test_a_key_refused_later_is_refused_at_the_next_request(
    browser: TestClient, keys: dict[Scope, str], keystore: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = keys[Scope.READ]
    token = sign_in(browser, key)
    assert browser.get("/dashboard").status_code == 200
    # What a revoked (or expired) key looks like to its users: authenticate says None.
    checked: list[str] = []
    authenticate = keystore.authenticate

    def refusing(presented: str) -> Scope | None:
        checked.append(presented)
        return None if presented == key else authenticate(presented)

    monkeypatch.setattr(keystore, "authenticate", refusing)
    response = browser.get("/dashboard")
    assert checked == [key]  # the session's key itself was checked again
    assert response.status_code == 303
    assert response.headers["location"] == f"{SIGN_IN}?reason=key"
    assert f'{COOKIE}=""' in response.headers["set-cookie"]  # the browser forgets it
    assert "no longer valid" in browser.get(response.headers["location"]).text
    # The session is gone on the server too: the old token opens nothing any more.
    monkeypatch.setattr(keystore, "authenticate", authenticate)
    browser.cookies.set(COOKIE, token, path="/dashboard")
    again = browser.get("/dashboard")
    assert again.status_code == 303 and again.headers["location"] == f"{SIGN_IN}?reason=session"


def test_signing_out_forgets_the_session(browser: TestClient, keys: dict[Scope, str]) -> None:
    token = sign_in(browser, keys[Scope.READ])
    response = browser.post("/dashboard/sign-out")
    assert response.status_code == 303
    assert response.headers["location"] == f"{SIGN_IN}?reason=out"
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert "Signed out." in browser.get(response.headers["location"]).text
    browser.cookies.set(COOKIE, token, path="/dashboard")
    assert browser.get("/dashboard").status_code == 303  # that token is dead


def test_an_unknown_token_is_sent_to_sign_in(browser: TestClient) -> None:
    browser.cookies.set(COOKIE, "made-up", path="/dashboard")
    response = browser.get("/dashboard")
    assert response.headers["location"] == f"{SIGN_IN}?reason=session"


def test_a_sign_in_from_another_site_is_refused(
    browser: TestClient, keys: dict[Scope, str]
) -> None:
    forged = browser.post(
        SIGN_IN, data={"key": keys[Scope.READ]}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert forged.status_code == 403
    assert error_of(forged)["code"] == "forbidden"
    assert "set-cookie" not in forged.headers


def test_a_large_or_odd_body_is_refused(browser: TestClient) -> None:
    assert browser.post(SIGN_IN, content=b"key=" + b"x" * 5000).status_code == 413
    odd = browser.post(
        SIGN_IN, content=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert odd.status_code == 400 and error_of(odd)["code"] == "invalid"


def test_a_bearer_key_still_opens_the_page_without_any_cookie(
    browser: TestClient, keys: dict[Scope, str]
) -> None:
    response = browser.get("/dashboard", headers=bearer(keys[Scope.READ]))
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "action=/dashboard/sign-out" not in response.text  # nothing to sign out of
    # A bad bearer key is the API's JSON refusal, even from a browser: no form.
    bad = browser.get("/dashboard", headers=bearer("fr_0123456789abcdef_" + "x" * 43))
    assert bad.status_code == 401 and error_of(bad)["code"] == "unauthorized"


def test_open_access_needs_no_sign_in(engine: Engine) -> None:
    app = create_app(engine, auth=None, open_access=True)
    with TestClient(app, headers=HTML, follow_redirects=False) as client:
        assert client.get("/dashboard").status_code == 200
        assert client.get(SIGN_IN).headers["location"] == "/dashboard"
