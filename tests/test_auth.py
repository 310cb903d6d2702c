"""HTTP side of the accounts: login cookie, CSRF, logout, lock-out, roles, expiry (bot.auth), on both
engines (``app_database``: the accounts in a SQLite file or a PostgreSQL database)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot import auth
from bot.accounts import AccountStore
from bot.ratelimit import RateLimiter

PASSWORD = "Mật khẩu rất dài 2026"
WRONG = "không phải mật khẩu"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    def __init__(self, start: float = 1_772_400_000.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def open_store(tmp_path, clock, target=None) -> AccountStore:
    limits = RateLimiter(tmp_path / "limits.db", clock=clock, key_secret="test-rate-limit")
    return AccountStore(target or tmp_path / "bot.db", limits=limits, secret="test-client", clock=clock,
                        hasher=FAST)


def make_app(store: AccountStore, public_url: str = "") -> Starlette:
    async def supervise(request):
        try:
            session = await auth.require(request, roles={"supervisor", "admin"})
        except auth.Denied as denied:
            return denied.response()
        return JSONResponse({"ok": True, "username": session.username})

    async def take_over(request):   # any role; raises Denied, turned into JSON by exception_handlers()
        session = await auth.require(request)
        return JSONResponse({"ok": True, "team": session.team})

    app = Starlette(routes=[*auth.routes(),
                            Route("/supervise", supervise, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                            Route("/take-over", take_over, methods=["POST"])],
                    exception_handlers=auth.exception_handlers())
    auth.install(app.state, SimpleNamespace(public_url=public_url), accounts=store)
    return app


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock, app_database):
    store = open_store(tmp_path, clock, app_database)
    store.add("lan.nguyen", PASSWORD, "volunteer", team="phuong-ben-thanh", display_name="Nguyễn Thị Lan")
    store.add("binh.le", PASSWORD, "supervisor", team="phuong-ben-thanh")
    return store


@pytest.fixture
def app(store):
    return make_app(store)


def login(client, username="lan.nguyen", password=PASSWORD):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def logged_in(app, username="lan.nguyen"):
    client = TestClient(app)
    response = login(client, username)
    assert response.status_code == 200, response.text
    client.csrf = response.json()["csrf_token"]
    client.token = client.cookies[auth.COOKIE]
    return client


def with_cookie(app, token):
    """Another browser that got hold of the cookie (and nothing else)."""
    return TestClient(app, cookies={auth.COOKIE: token})


# --- login ------------------------------------------------------------------------------------

def test_login_sets_an_httponly_strict_cookie_and_returns_a_csrf_token(app):
    client = TestClient(app)
    response = login(client, "Lan.Nguyen")
    assert response.status_code == 200
    body = response.json()
    assert body == {"username": "lan.nguyen", "role": "volunteer", "team": "phuong-ben-thanh",
                    "display_name": "Nguyễn Thị Lan", "csrf_token": body["csrf_token"]}
    assert len(body["csrf_token"]) >= 40
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith(f"{auth.COOKIE}=")
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
    assert "max-age=43200" in attributes
    assert "secure" not in attributes   # BOT_PUBLIC_URL is not https here
    assert body["csrf_token"] not in cookie
    assert response.headers["cache-control"] == "no-store"
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.json() == body


def test_cookie_is_secure_when_the_public_url_is_https(store):
    client = TestClient(make_app(store, public_url="https://tro-ly.hochiminhcity.gov.vn"),
                        base_url="https://testserver")
    response = login(client)
    assert "secure" in [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
    assert client.get("/api/auth/me").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(app):
    client = TestClient(app)
    wrong, unknown = login(client, password=WRONG), login(client, "khong.ton.tai")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Tên đăng nhập hoặc mật khẩu không đúng."}
    assert "set-cookie" not in wrong.headers


def test_login_needs_a_json_body_with_two_strings(app):
    client = TestClient(app)
    assert client.post("/api/auth/login", data={"username": "lan.nguyen", "password": PASSWORD}).status_code == 415
    for body in ([], {"username": "lan.nguyen"}, {"username": 1, "password": PASSWORD},
                 {"username": "lan.nguyen", "password": None}):
        response = client.post("/api/auth/login", json=body)
        assert response.status_code == 400 and "username" in response.json()["error"]
    response = client.post("/api/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    huge = client.post("/api/auth/login", json={"username": "lan.nguyen", "password": "x" * 10000})
    assert huge.status_code == 413


def test_me_without_a_session_is_401(app):
    response = TestClient(app).get("/api/auth/me")
    assert response.status_code == 401 and "đăng nhập" in response.json()["error"]
    stale = with_cookie(app, "not-a-real-token").get("/api/auth/me")
    assert stale.status_code == 401 and 'max-age=0' in stale.headers["set-cookie"].lower()


# --- logout and CSRF ----------------------------------------------------------------------------

def test_logout_needs_the_csrf_token(app):
    client = logged_in(app)
    missing = client.post("/api/auth/logout")
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
    wrong = client.post("/api/auth/logout", headers={"X-CSRF-Token": client.csrf[:-2] + "xx"})
    assert wrong.status_code == 403
    assert client.get("/api/auth/me").status_code == 200      # the session still works

    response = client.post("/api/auth/logout", headers={"X-CSRF-Token": client.csrf})
    assert response.status_code == 200 and response.json()["ok"] is True
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert auth.COOKIE not in client.cookies
    assert client.get("/api/auth/me").status_code == 401
    stolen = with_cookie(app, client.token)                    # the cookie kept by someone else
    assert stolen.get("/api/auth/me").status_code == 401
    assert stolen.post("/take-over", headers={"X-CSRF-Token": client.csrf}).status_code == 401


def test_a_csrf_token_of_another_session_is_refused(app):
    lan, binh = logged_in(app), logged_in(app, "binh.le")
    assert binh.post("/supervise", headers={"X-CSRF-Token": lan.csrf}).status_code == 403
    assert binh.post("/supervise", headers={"X-CSRF-Token": binh.csrf}).status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_state_changing_method_needs_csrf(app, method):
    client = logged_in(app, "binh.le")
    assert client.request(method, "/supervise").status_code == 403
    assert client.request(method, "/supervise", headers={"X-CSRF-Token": client.csrf}).status_code == 200
    assert client.get("/supervise").status_code == 200          # reading needs no CSRF token


def test_set_password_ends_a_stolen_session(app, store):
    client = logged_in(app)
    store.set_password("lan.nguyen", "một mật khẩu mới toanh")
    assert with_cookie(app, client.token).get("/api/auth/me").status_code == 401
    assert login(TestClient(app)).status_code == 401
    assert login(TestClient(app), password="một mật khẩu mới toanh").status_code == 200


def test_login_again_replaces_the_previous_session(app):
    client = logged_in(app)
    first = client.token
    assert login(client).status_code == 200
    assert client.cookies[auth.COOKIE] != first
    assert with_cookie(app, first).get("/api/auth/me").status_code == 401


# --- roles, disabled accounts, expiry -----------------------------------------------------------

def test_volunteer_on_a_supervisor_route_is_403(app):
    volunteer = logged_in(app)
    response = volunteer.get("/supervise")
    assert response.status_code == 403 and response.json() == {"error": auth.WRONG_ROLE}
    assert logged_in(app, "binh.le").get("/supervise").json() == {"ok": True, "username": "binh.le"}
    assert TestClient(app).get("/supervise").status_code == 401


def test_denied_raised_in_a_route_becomes_json(app):
    anonymous = TestClient(app).post("/take-over")
    assert anonymous.status_code == 401 and anonymous.json() == {"error": auth.NOT_LOGGED_IN}
    client = logged_in(app)
    assert client.post("/take-over").json() == {"error": auth.BAD_CSRF}
    assert client.post("/take-over", headers={"X-CSRF-Token": client.csrf}).json() == {
        "ok": True, "team": "phuong-ben-thanh"}


def test_disabled_account_cannot_log_in_and_its_sessions_stop(app, store):
    client = logged_in(app)
    store.disable("lan.nguyen")
    assert client.get("/api/auth/me").status_code == 401
    refused = login(TestClient(app))
    assert refused.status_code == 403 and "vô hiệu hóa" in refused.json()["error"]
    assert login(TestClient(app), password=WRONG).status_code == 401   # no hint without the password
    store.enable("lan.nguyen")
    assert login(TestClient(app)).status_code == 200


def test_idle_session_expires(app, clock):
    client = logged_in(app)
    clock.advance(2 * 3600 - 120)
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(2 * 3600 - 120)
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(2 * 3600 + 1)
    assert client.get("/api/auth/me").status_code == 401


# --- lock-out -------------------------------------------------------------------------------------

def test_five_wrong_passwords_lock_for_fifteen_minutes_even_after_a_restart(tmp_path, app, store, clock,
                                                                            app_database):
    client = TestClient(app)
    statuses = [login(client, password=WRONG).status_code for _ in range(5)]
    assert statuses == [401] * 4 + [423]
    locked = login(client)                                     # the right password is refused too
    assert locked.status_code == 423
    body = locked.json()
    assert "tạm khóa" in body["error"] and body["locked_until"]
    assert int(locked.headers["retry-after"]) == 15 * 60 + 1
    assert "set-cookie" not in locked.headers

    store.close()
    restarted = TestClient(make_app(open_store(tmp_path, clock, app_database)))   # new store, new RateLimiter
    clock.advance(14 * 60)
    assert login(restarted).status_code == 423
    clock.advance(60)
    assert login(restarted).status_code == 200


def test_many_failures_from_one_address_are_throttled(app):
    client = TestClient(app)
    for n in range(4):
        for _ in range(5):
            login(client, f"nguoi.{n}", WRONG)
    throttled = login(client, "binh.le")
    assert throttled.status_code == 429 and "địa chỉ này" in throttled.json()["error"]
    assert int(throttled.headers["retry-after"]) > 0
