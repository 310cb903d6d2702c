"""Hostile input on every public endpoint: Hypothesis-generated bodies, headers, paths and queries.

The bot app runs under uvicorn on a loopback port (``tests.webchat.AppServer``, so the event
streams are real streams) with stand-ins for Rasa, Telegram and Zalo on loopback. Its routes are
read from ``create_app(config).routes`` (Mounts included): ``FUZZ`` must name every one of them,
so a new route cannot be left out. Every route is attacked with random JSON (nested, wrong types,
huge numbers, Vietnamese with and without diacritics, NUL, lone surrogates as escapes, long
strings within MAX_BODY_BYTES), random bytes, random content types, random / absent / forged
headers (session cookie, X-CSRF-Token, X-Conversation-Token, the staff bearer token, Telegram's
secret, Zalo's signature), random path parameters and query strings — as an anonymous caller, a
logged-in volunteer and staff (with the right CSRF token most of the time, so the handlers are
reached, not only the guards), and for the webhooks also with valid secrets and signatures.

Whatever arrives: never a 5xx, no exception escapes (the ErrorMiddleware's "unhandled" line and
any ERROR record are failures), an error answers JSON ``{"error"}`` (or the app's Vietnamese
HTML page for the PDF links), and afterwards the stores hold nothing half-written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import string
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import httpx
import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot import model_registry as mr
from bot import settings
from bot.accounts import AccountStore
from bot.app import create_app
from bot.dossiers import DossierStore, make_pdf_token
from bot.dossiers.codes import new_code
from bot.web_sessions import HEADER as TOKEN_HEADER
from bot.web_sessions import WebSessions
from channels.telegram import SECRET_HEADER
from procedures import loading
from tests.channels import fake_zalo
from tests.channels.fake_telegram import FakeTelegram, load_update
from tests.conftest import free_port
from tests.handover_fakes import FakeRasa
from tests.loopback import LoopbackServer
from tests.webchat import AppServer

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Mật khẩu rất dài 2026"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
TEAM = "phuong-ben-thanh"
USERS = {"volunteer": "lan.tnv", "supervisor": "binh.gs", "staff": "thu.canbo", "admin": "quan.tri"}
STAFF_TOKEN = "staff-token-for-fuzz"
TELEGRAM_TOKEN = "123456:TEST-token_abc"
TELEGRAM_SECRET = "fuzz_webhook-secret"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
SETTINGS = hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=False, print_blob=True,
                               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                      HealthCheck.data_too_large, HealthCheck.filter_too_much])

# --- strategies -----------------------------------------------------------------------------------

VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵĐƯƠ"
vietnamese_text = st.text(alphabet=VIETNAMESE + " .,?0123456789", max_size=60)
unicode_text = st.text(max_size=60)   # any code point, lone surrogates included
interesting_text = st.sampled_from([
    "", " ", "\x00", "\ud800", "\udfff", "😀🙏", "lệ phí làm hộ chiếu", "lam ho chieu can giay to gi",
    "Đăng ký khai sinh cần giấy tờ gì?", "số 001190012345, đt 0912 345 678", "/greet", "/ask_fee",
    '/ask_fee{"procedure":"ho-chieu"}', "/restart", "cho mình gặp người thật", "<script>alert(1)</script>",
    "../../etc/passwd", "%00", "' OR 1=1 --", "null", "true", "-1", "0", "9" * 30, "1e999", "NaN",
    "HS-2026-ABCDEF", "ho-chieu", "khai-sinh", "greet", "ask_papers", "da_nop", "dang_xu_ly", "huy", "nhap",
    "quick", "full", "finetune", "online", "away", "offline", "waiting", "mine", "callback", "closed",
    "chao", PASSWORD, *USERS.values(), "a" * 2001, "x" * 40_000, "ậ" * 10_000,
])
texts = st.one_of(interesting_text, vietnamese_text, unicode_text)
numbers = st.one_of(st.integers(), st.integers(min_value=-10 ** 40, max_value=10 ** 40),
                    st.sampled_from([0, -1, 1, 2 ** 63, 2 ** 64, -2 ** 63 - 1, 10 ** 300]),
                    st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(texts, children, max_size=4), max_leaves=12)


def nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


deep_values = st.integers(min_value=30, max_value=40).map(nested)
field_values = st.one_of(texts, scalars, json_values, deep_values)


def shaped(names: tuple[str, ...]) -> st.SearchStrategy:
    """Dicts with (some of) the fields the route reads, each of any type, plus stray keys."""
    return st.fixed_dictionaries({}, optional={**{name: field_values for name in names},
                                               "extra": json_values, "__proto__": json_values})


def encode(value: object, ascii_only: bool) -> bytes:
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
                     "APPLICATION/JSON", "application/json;;", "application/jsonx", "text/plain", "text/html",
                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
                     "*/*", ""]),
    # h11 refuses a header value with surrounding whitespace on the client side: stripped
    st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=40).map(str.strip),
)
HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7f)) + "\t"
header_values = st.one_of(
    st.text(alphabet=HEADER_SAFE, max_size=80).map(str.strip),
    vietnamese_text.map(lambda t: t.encode("utf-8").strip()),
    st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7f).strip()),
    st.sampled_from(["", "A" * 5000, "null", "0", "-1", "Bearer", "Bearer ", "mac=", "mac=" + "0" * 64]),
).map(lambda value: value.strip())   # h11 refuses surrounding whitespace on the client side


@dataclass
class Spec:
    """How to fuzz one route: its path parameters, its body fields and who may call it."""
    params: dict[str, st.SearchStrategy] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("anonymous", "volunteer", "staff")
    body: Callable[["Target"], st.SearchStrategy] | None = None   # a route-specific body strategy
    webhook: bool = False
    slow: bool = False   # a route that reads the whole NLU data (about a second a call): fewer examples


# Filled by the fixture once the seed exists (conversation ids, dossier codes, tokens).
SEEDED: dict[str, list[str]] = {"conversations": [], "codes": [], "pdf_tokens": [], "models": [], "doomed": []}


def seeded(kind: str, *extra: str) -> st.SearchStrategy:
    return st.deferred(lambda: st.sampled_from(SEEDED[kind] + list(extra) or ["x"]))


conversation_ids = st.one_of(seeded("conversations", "web-0123456789abcdef", "telegram:5550001112", "zalo:1"),
                             texts, st.from_regex(r"web-[0-9a-f]{16}", fullmatch=True))
ids = st.one_of(st.integers(min_value=-5, max_value=50).map(str), st.sampled_from(["1", "0", "-1", "9" * 40, "1.5",
                                                                                  "0x10", "١٢", "1e3"]), texts)
codes = st.one_of(seeded("codes", "HS-2026-000001", "hs-2026-abcdef"), texts)
pdf_tokens = st.one_of(seeded("pdf_tokens"), texts, seeded("codes").map(lambda c: c + ".9999999999.AAAA"))
procedure_ids = st.one_of(st.sampled_from(["ho-chieu", "khai-sinh", "ket-hon", "parse"]), texts)
model_ids = st.one_of(seeded("models", "active", "current", ".", ".."), texts)
console_conversation = {"conversation_id": conversation_ids}
CONSOLE = ("anonymous", "volunteer", "supervisor", "staff")
ADMIN = ("anonymous", "volunteer", "staff", "admin")


def procedure_records(target: "Target") -> st.SearchStrategy:
    """The passport record with one field replaced (or removed), so the validator is reached."""
    record = target.passport

    def mutate(key, value, remove):
        changed = dict(record)
        if remove:
            changed.pop(key, None)
        else:
            changed[key] = value
        return changed

    return st.one_of(st.builds(mutate, st.sampled_from(sorted(record)), field_values, st.booleans()),
                     st.builds(lambda r, k: {**r, "id": k}, st.just(record), procedure_ids),
                     st.builds(lambda extra: {"record": record, **extra}, shaped(("record",))))


def procedure_yaml(target: "Target") -> st.SearchStrategy:
    base = target.passport_yaml
    return st.fixed_dictionaries({"yaml": st.one_of(
        st.just(base), texts, st.builds(lambda cut, junk: base[:cut] + junk, st.integers(0, len(base)), texts),
        st.sampled_from(["a: 1\na: 2\n", "- [\n", "!!python/object:os.system ['true']", "&a [*a]", "{" * 40]),
        field_values)})


def telegram_updates(target: "Target") -> st.SearchStrategy:
    samples = [load_update(name) for name in ("text", "callback_query", "start", "photo", "sticker",
                                              "group_text", "edited_message")]

    def mutate(sample, path, value):
        update = json.loads(json.dumps(sample))
        node = update
        for key in path[:-1]:
            if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                break
            node = node[key]
        else:
            node[path[-1]] = value
        return update

    paths = st.sampled_from([("update_id",), ("message",), ("message", "text"), ("message", "chat"),
                             ("message", "chat", "id"), ("message", "chat", "type"), ("message", "from"),
                             ("message", "message_id"), ("message", "date"), ("callback_query", "data"),
                             ("callback_query", "message"), ("callback_query", "from"), ("callback_query", "id")])
    return st.builds(mutate, st.sampled_from(samples), paths, field_values) | json_values


def zalo_events(target: "Target") -> st.SearchStrategy:
    samples = [fake_zalo.payload(name) for name in ("user_send_text", "user_send_image", "user_send_sticker", "follow")]

    def mutate(sample, key, sub, value):
        event = json.loads(json.dumps(sample))
        if sub and isinstance(event.get(key), dict):
            event[key][sub] = value
        else:
            event[key] = value
        return event

    keys = st.sampled_from(["event_name", "timestamp", "sender", "message", "follower", "user_id_by_app", "recipient"])
    subs = st.sampled_from([None, "id", "text", "msg_id", "attachments"])
    return st.builds(mutate, st.sampled_from(samples), keys, subs, field_values)


def privacy_requests() -> st.SearchStrategy:
    """Deletion requests; the real ids named are the doomed seed (the others must outlive this route)."""
    doomed = st.one_of(seeded("doomed"), texts, field_values)
    return st.fixed_dictionaries({}, optional={"conversation": doomed, "dossier": doomed,
                                               "confirm": st.one_of(st.just(True), field_values),
                                               "extra": json_values})


FUZZ: dict[str, Spec] = {
    # citizens: web chat, PDF links, health, pages
    "/": Spec(query=("embed",)),
    "/widget.js": Spec(),
    "/healthz": Spec(),
    "/api/conversations": Spec(fields=("conversation_id", "text")),
    "/api/messages": Spec(fields=("conversation_id", "text", "payload", "title", "after_id")),
    "/api/conversations/{conversation_id}/messages": Spec(console_conversation, query=("after_id", "after")),
    "/api/conversations/{conversation_id}/events": Spec(console_conversation, query=("after_id",)),
    "/dossiers/pdf/{token}": Spec({"token": pdf_tokens}),
    "/static": Spec({"path": st.one_of(st.sampled_from(["app.js", "style.css", "index.html", "../app.py",
                                                         "..%2F..%2Fbot%2Fapp.py", "", "console.js", "nope"]),
                                        texts)}),
    # staff bearer-token API
    "/api/staff/dossiers": Spec(query=("state", "limit")),
    "/api/staff/dossiers/{code}": Spec({"code": codes}),
    "/api/staff/dossiers/{code}/state": Spec({"code": codes}, fields=("state", "actor", "note")),
    "/api/staff/messages/failed": Spec(),
    # platform webhooks
    "/channels/{name}/webhook": Spec({"name": st.one_of(st.sampled_from(["telegram", "zalo", "web", "Telegram"]),
                                                         texts)}, webhook=True),
    # accounts
    "/api/auth/login": Spec(fields=("username", "password")),
    "/api/auth/logout": Spec(),
    "/api/auth/me": Spec(),
    # volunteers' console
    "/console": Spec(roles=CONSOLE),
    "/console/api/conversations": Spec(query=("tab",), roles=CONSOLE),
    "/console/api/conversations/{conversation_id}": Spec(console_conversation, roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/claim": Spec(console_conversation, roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/assign": Spec(console_conversation, ("username",), roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/messages": Spec(console_conversation, ("text",), roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/notes": Spec(console_conversation, ("text",), roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/release": Spec(console_conversation, roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/close": Spec(console_conversation, ("reason",), roles=CONSOLE),
    "/console/api/conversations/{conversation_id}/flag": Spec(console_conversation, ("message_id",), roles=CONSOLE),
    "/console/api/events": Spec(roles=CONSOLE),
    "/console/api/presence": Spec(fields=("status",), roles=CONSOLE),
    "/console/api/canned": Spec(fields=("code", "text", "title"), roles=CONSOLE),
    "/console/api/canned/{code}": Spec({"code": st.one_of(st.sampled_from(["chao", "cam-on"]), texts)}, roles=CONSOLE),
    "/console/api/callbacks/{callback_id}/done": Spec({"callback_id": ids}, roles=CONSOLE),
    "/console/api/figures": Spec(query=("days", "format"), roles=CONSOLE),
    # staff tools
    "/admin": Spec(roles=ADMIN),
    "/admin/api/procedures": Spec(query=("q", "limit", "offset", "source"), roles=ADMIN, body=procedure_records),
    "/admin/api/procedures/parse": Spec(roles=ADMIN, body=procedure_yaml),
    "/admin/api/procedures/{id}": Spec({"id": procedure_ids}, roles=ADMIN, body=procedure_records),
    "/admin/api/procedures/{id}/yaml": Spec({"id": procedure_ids}, roles=ADMIN),
    "/admin/api/procedures/{id}/versions": Spec({"id": procedure_ids}, roles=ADMIN),
    "/admin/api/inbox": Spec(query=("limit", "offset", "days"), roles=ADMIN),
    "/admin/api/inbox/{item_id}": Spec({"item_id": ids}, ("intent", "procedure", "out_of_scope"), roles=ADMIN),
    "/admin/api/intents": Spec(roles=ADMIN, slow=True),
    "/admin/api/intents/{name}": Spec({"name": st.one_of(st.sampled_from(["greet", "ask_papers", "nlu_fallback"]),
                                                          texts)}, roles=ADMIN, slow=True),
    "/admin/api/examples": Spec(fields=("text", "intent", "procedure"), query=("kind",), roles=ADMIN),
    "/admin/api/examples/{example_id}": Spec({"example_id": ids}, ("text", "intent"), roles=ADMIN),
    "/admin/api/models": Spec(roles=ADMIN),
    "/admin/api/models/train": Spec(fields=("full", "strategy"), roles=ADMIN),
    "/admin/api/models/train/{job}": Spec({"job": st.one_of(st.sampled_from(["job1", "../x"]), texts)}, roles=ADMIN),
    "/admin/api/models/{id}": Spec({"id": model_ids}, roles=ADMIN),
    "/admin/api/models/{id}/activate": Spec({"id": model_ids}, roles=ADMIN),
    "/admin/api/models/{id}/cross-validate": Spec({"id": model_ids}, roles=ADMIN),
    "/admin/api/dashboard": Spec(query=("days", "format"), roles=ADMIN),
    "/admin/api/privacy/export": Spec(query=("conversation", "dossier"), roles=ADMIN,
                                      body=lambda t: shaped(("conversation", "dossier"))),
    "/admin/api/privacy/delete": Spec(roles=ADMIN, body=lambda t: privacy_requests()),
    "/admin/api/access-log": Spec(query=("limit", "who"), roles=ADMIN),
    "/admin/{rest:path}": Spec({"rest": st.one_of(st.sampled_from(["api/nope", "api/procedures/x/y", "..", ""]),
                                                  texts)}, roles=ADMIN),
}


def app_routes(routes, prefix: str = "") -> dict[str, set[str]]:
    """Every route template of the app → its methods (a Mount without routes: the mount path)."""
    found: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Mount):
            inner = route.routes
            if inner:
                for path, methods in app_routes(inner, prefix + route.path).items():
                    found.setdefault(path, set()).update(methods)
            else:
                found.setdefault(prefix + route.path, set()).update({"GET", "HEAD"})
        elif isinstance(route, Route):
            found.setdefault(prefix + route.path, set()).update(route.methods or {"GET"})
        else:
            found.setdefault(prefix + getattr(route, "path", repr(route)), set()).add("?")
    return found


# --- the app under attack ----------------------------------------------------------------------------

class ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class FuzzRasa(FakeRasa):
    """The handover stand-in plus ``PUT /model`` (activation) that accepts an existing file."""

    def __init__(self, token):
        super().__init__(token)
        self.app.router.routes.append(Route("/model", self.put_model, methods=["PUT"]))

    async def put_model(self, request: Request) -> Response:
        if self._denied(request):
            return JSONResponse({"status": "failure"}, status_code=401)
        body = await request.json()
        if not Path(str(body.get("model_file"))).exists():
            return JSONResponse({"status": "failure", "reason": "BadRequest"}, status_code=400)
        return Response(status_code=204)


@dataclass
class Target:
    server: AppServer
    config: settings.Settings
    client: httpx.Client
    sessions: dict[str, tuple[str, str]]   # role → (cookie, csrf token)
    web: WebSessions
    passport: dict
    passport_yaml: str
    errors: ErrorRecords
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)

    def refresh(self, role: str) -> None:
        """A fresh session of ``role`` (as a login makes it, without the address's login throttle)."""
        auth = self.server.app.state.auth
        self.sessions[role] = auth.accounts.create_session(auth.accounts.get(USERS[role]))
        for hook in auth.on_login:   # the console marks a volunteer online at login
            hook(USERS[role], role)


def _fake_spawn(self, kind, by, options):
    """No training process in the fuzz run: a job that is at once finished (failed)."""
    job = f"job{int(time.time() * 1000) % 10 ** 9}"
    mr._write_json(self._job_file(job), {"job": job, "kind": kind, "state": "failed", "by": by, "options": options,
                                         "started": mr.now(), "finished": mr.now(), "pid": 0, "metrics": None,
                                         "model": None, "error": "fuzz", "progress": {"stage": "queued",
                                                                                     "percent": 0}})
    return {"job": job}


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    catalogue, nlu = tmp / "catalogue", tmp / "nlu_data"
    shutil.copytree(loading.DEFAULT_DIRECTORY, catalogue)
    shutil.copytree(ROOT / "nlu_data", nlu)
    telegram, zalo = FakeTelegram(TELEGRAM_TOKEN), fake_zalo.FakeZalo()
    tg_port, zalo_port = free_port(), free_port()
    config = replace(settings.load(), data_dir=tmp / "var", rasa_port=free_port(), port=free_port(), rasa_timeout=3.0,
                     secret_override="fuzz-secret-long-enough-0123456789", rate_limit_per_minute=0, conversation_rate_per_minute=0,
                     office_hours="always", staff_token=STAFF_TOKEN, nlu_data_dir=nlu,
                     telegram_bot_token=TELEGRAM_TOKEN, telegram_webhook_secret=TELEGRAM_SECRET,
                     telegram_api_url=f"http://127.0.0.1:{tg_port}",
                     zalo_app_id=fake_zalo.APP_ID, zalo_app_secret=fake_zalo.APP_SECRET,
                     zalo_oa_secret_key=fake_zalo.OA_SECRET_KEY, zalo_access_token=fake_zalo.FIRST_ACCESS,
                     zalo_refresh_token=fake_zalo.FIRST_REFRESH, zalo_api_url=f"http://127.0.0.1:{zalo_port}",
                     zalo_oauth_url=f"http://127.0.0.1:{zalo_port}")
    accounts = AccountStore.from_settings(config, hasher=FAST)
    for role, username in USERS.items():
        accounts.add(username, PASSWORD, role, team=TEAM if role in ("volunteer", "supervisor") else None,
                     display_name=f"Người thử {role}")
    accounts.close()
    bundled = tmp / "bundled" / "current.tar.gz"
    bundled.parent.mkdir()
    bundled.write_bytes(b"bundled model")
    (tmp / "bundled" / "current.inputs").write_text("fuzz-inputs")
    rasa = FuzzRasa(config.rasa_token)
    errors = ErrorRecords()
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv(loading.DIRECTORY_VARIABLE, str(catalogue))
        patch.setattr(mr.Registry, "_spawn", _fake_spawn)
        stack.enter_context(LoopbackServer(telegram.app, tg_port))
        stack.enter_context(LoopbackServer(zalo.app, zalo_port))
        stack.enter_context(LoopbackServer(rasa.app, config.rasa_port))
        app = create_app(config)
        server = stack.enter_context(AppServer(app, config.port))
        app.state.nlu_data_dir = nlu
        app.state.model_registry = mr.Registry(config.data_dir, bundled, tmp / "bundled" / "current.inputs")
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=60))
        web = WebSessions(config.derived_secret("web-conversation"))
        fuzz = Target(server, config, client, {}, web, {}, "", errors)
        for role in USERS:
            fuzz.refresh(role)
        _seed(fuzz)
        for name in ("", "uvicorn", "uvicorn.error"):
            logging.getLogger(name).addHandler(errors)
        stack.callback(lambda: [logging.getLogger(n).removeHandler(errors) for n in ("", "uvicorn", "uvicorn.error")])
        yield fuzz
        _summary(fuzz)
    loading.default_catalogue().current()   # back to the repository's catalogue for the next tests


def _seed(target: Target) -> None:
    """Conversations waiting for and claimed by a volunteer, a dossier, its PDF links, a model."""
    client = target.client
    conversations = []
    for _ in range(4):
        answer = client.post("/api/conversations")
        assert answer.status_code == 201, answer.text
        cid, token = answer.json()["conversation_id"], answer.json()["token"]
        for text in ("cho mình hỏi làm hộ chiếu", "cho mình gặp người thật"):
            sent = client.post("/api/messages", json={"conversation_id": cid, "text": text},
                               headers={TOKEN_HEADER: token})
            assert sent.status_code == 200, sent.text
        conversations.append(cid)
    cookie, csrf = target.sessions["volunteer"]
    claimed = client.post(f"/console/api/conversations/{conversations[1]}/claim", json={},
                          headers={"Cookie": f"tthc_session={cookie}", "X-CSRF-Token": csrf})
    assert claimed.status_code == 200, claimed.text
    client.cookies.clear()
    dossiers = DossierStore(target.config.app_db)
    code = dossiers.create("ho-chieu", conversations[0], {"ho_ten": "Nguyễn Văn A"}, phone="0912345678").code
    doomed = dossiers.create("ho-chieu", conversations[3], {"ho_ten": "Trần Thị B"}, phone="0987654321").code
    SEEDED["conversations"] = conversations[:3]
    SEEDED["codes"] = [code]
    SEEDED["doomed"] = [conversations[3], doomed]
    secret = target.config.secret()
    SEEDED["pdf_tokens"] = [make_pdf_token(code, secret), make_pdf_token(code, secret, ttl=-10),
                            make_pdf_token(new_code(2026), secret)]
    staff_cookie, _ = target.sessions["staff"]
    listed = client.get("/admin/api/models", headers={"Cookie": f"tthc_session={staff_cookie}"})
    assert listed.status_code == 200, listed.text
    SEEDED["models"] = [m["id"] for m in listed.json()["models"]]
    record = client.get("/admin/api/procedures/ho-chieu", headers={"Cookie": f"tthc_session={staff_cookie}"})
    yaml_text = client.get("/admin/api/procedures/ho-chieu/yaml", headers={"Cookie": f"tthc_session={staff_cookie}"})
    assert record.status_code == 200 and yaml_text.status_code == 200, (record.text, yaml_text.text)
    target.passport = record.json()
    target.passport_yaml = yaml_text.json()["yaml"]
    client.cookies.clear()


def _summary(target: Target) -> None:
    total = sum(target.counts.values())
    fives = sum(n for status, n in target.statuses.items() if status >= 500)
    line = f"fuzz: {total} requests over {len(target.counts)} routes, 5xx: {fives}"
    print("\n" + line)
    terminal = os.environ.get("FUZZ_SUMMARY_FILE")
    if terminal:
        Path(terminal).write_text(line + "\n", encoding="utf-8")


# --- one request ------------------------------------------------------------------------------------

def _quote(value: str) -> str:
    return urllib.parse.quote(value.encode("utf-8", "surrogatepass"), safe="")


def build_path(template: str, values: dict[str, str]) -> str:
    # httpx refuses URLs over 64 KiB before sending: a path value of up to 2,001 characters
    # (18 KB once percent-encoded) leaves room for the query (at most 40,000 characters)
    values = {name: value[:2001] for name, value in values.items()}
    if template == "/static":
        # "/" and "%" kept (traversal attempts, pre-encoded "..%2F"); the rest percent-encoded as
        # UTF-8, lone surrogates included (httpx cannot encode those itself)
        return "/static/" + urllib.parse.quote(values["path"].replace("\x00", "").encode("utf-8", "surrogatepass"),
                                               safe="/%")
    path = template
    for name, value in values.items():
        placeholder = "{rest:path}" if name == "rest" else "{" + name + "}"
        path = path.replace(placeholder, value if name == "rest" and "%" in value else _quote(value))
    return path


def check_answer(route: str, response: httpx.Response, body: bytes) -> None:
    assert response.status_code < 500, (route, response.status_code, body[:500])
    if response.status_code < 400 or response.request.method == "HEAD":
        return
    media = response.headers.get("content-type", "")
    if media.startswith("application/json"):
        answer = json.loads(body)
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"], answer
    else:
        assert media.startswith("text/html"), (route, response.status_code, media, body[:200])
        assert b'lang="vi"' in body, body[:300]


def send(target: Target, route: str, method: str, url: str, headers: list, content: bytes | None) -> int:
    request = target.client.build_request(method, url, headers=headers, content=content)
    response = target.client.send(request, stream=True)
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            body = b""
        else:
            body = response.read()
    finally:
        response.close()
        target.client.cookies.clear()
    target.counts[route] = target.counts.get(route, 0) + 1
    target.statuses[response.status_code] = target.statuses.get(response.status_code, 0) + 1
    check_answer(route, response, body)
    return response.status_code


def assert_no_errors(target: Target, route: str) -> None:
    records = [r for r in target.errors.records]
    target.errors.records.clear()
    assert not records, [(r.name, r.getMessage(), r.exc_info and r.exc_info[0]) for r in records]


def body_strategy(target: Target, route: str, spec: Spec) -> st.SearchStrategy:
    structured = spec.body(target) if spec.body else shaped(spec.fields)
    if spec.webhook:
        structured = st.one_of(telegram_updates(target), zalo_events(target))
    big = st.integers(min_value=0, max_value=target.config.max_body_bytes - 200).map(
        lambda n: {"text": "ạ" * (n // 3), "conversation_id": SEEDED["conversations"][0] if SEEDED["conversations"]
                   else "web-x"})
    return st.one_of(
        st.tuples(st.just("json"), st.one_of(structured, structured, json_values, deep_values, big)),
        st.tuples(st.just("raw"), st.one_of(st.binary(max_size=300), vietnamese_text.map(str.encode),
                                            st.just(b""), st.just(b"{" * 20), st.just(b'{"a": 1}' + b"\x00"))),
        st.tuples(st.just("none"), st.none()),
    )


def _query_string(query: list[tuple[str, str]], cut: int) -> str:
    return urllib.parse.urlencode([(k[:cut].encode("utf-8", "surrogatepass"), v[:cut].encode("utf-8", "surrogatepass"))
                                   for k, v in query])


def attack(target: Target, route: str, spec: Spec, methods: list[str], data) -> None:
    # What an earlier example (or route) logged is not this example's: a failed example never
    # reaches assert_no_errors, and its records would fail every example after it.
    target.errors.records.clear()
    method = data.draw(st.sampled_from(methods), label="method")
    values = {name: data.draw(strategy, label=name) for name, strategy in spec.params.items()}
    url = build_path(route, values)
    query: list[tuple[str, str]] = []
    for name in spec.query:
        if data.draw(st.booleans(), label=f"has {name}"):
            query.append((name, data.draw(st.one_of(texts, numbers.map(str)), label=name)))
    if data.draw(st.booleans(), label="stray query"):
        query += data.draw(st.lists(st.tuples(texts, texts), max_size=3), label="stray")
    raw_query = data.draw(st.one_of(st.none(), st.sampled_from(["%ff%fe", "a=%00", "&&==&", "a[]=1&a[]=2",
                                                                  "after_id=1&after_id=2", "%"])), label="raw query")
    if query:
        encoded = _query_string(query, 2001)
        if len(encoded) > 40_000:   # httpx refuses URLs over 64 KiB before sending (see build_path)
            encoded = _query_string(query, 500)
        url += "?" + encoded
    elif raw_query:
        url += "?" + raw_query
    kind, payload = data.draw(body_strategy(target, route, spec), label="body")
    if kind == "json":
        content = encode(payload, data.draw(st.booleans(), label="ascii"))
    else:
        content = payload
    if method in ("GET", "HEAD", "DELETE") and not data.draw(st.integers(0, 4), label="body on GET"):
        content = content if kind != "none" else None
    elif method in ("GET", "HEAD"):
        content = None
    content_type = data.draw(st.one_of(st.just("application/json"), st.just("application/json"), CONTENT_TYPES),
                             label="content-type")
    extra = data.draw(st.lists(st.tuples(st.sampled_from(
        [SECRET_HEADER, "X-ZEvent-Signature", "X-CSRF-Token", TOKEN_HEADER, "Authorization", "Cookie", "If-Match",
         "Last-Event-ID", "Accept", "Accept-Encoding", "Origin", "X-Forwarded-For", "Range", "X-Custom"]),
        header_values), max_size=4), label="headers")
    webhook_secret = data.draw(st.sampled_from(["valid", "valid", "forged", "absent"]), label="webhook auth")
    conversation_token = data.draw(st.sampled_from(["right", "right", "wrong", "absent", "two"]), label="token")
    credentials = data.draw(st.sampled_from(["right", "right", "right", "no csrf", "wrong csrf", "forged cookie"]),
                            label="credentials")
    bearer = data.draw(st.sampled_from(["right", "right", "wrong", "absent"]), label="staff bearer")

    for role in spec.roles:
        headers: list[tuple[str, str | bytes]] = []
        if content is not None and content_type:
            headers.append(("Content-Type", content_type))
        if role != "anonymous":
            cookie, csrf = target.sessions[role]
            if credentials == "forged cookie":
                headers.append(("Cookie", f"tthc_session={cookie[:-2]}xx"))
            else:
                headers.append(("Cookie", f"tthc_session={cookie}"))
            if credentials == "right":
                headers.append(("X-CSRF-Token", csrf))
            elif credentials == "wrong csrf":
                headers.append(("X-CSRF-Token", csrf[::-1]))
        if route.startswith("/api/staff/") and role == "staff" and bearer != "absent":
            headers.append(("Authorization", f"Bearer {STAFF_TOKEN if bearer == 'right' else STAFF_TOKEN + 'x'}"))
        cid = values.get("conversation_id")
        if kind == "json" and isinstance(payload, dict) and isinstance(payload.get("conversation_id"), str):
            cid = payload["conversation_id"]
        if isinstance(cid, str) and conversation_token != "absent":
            try:
                token = target.web.token(cid)
            except Exception:   # an id the signer cannot take: send a forged one
                token = "forged"
            if conversation_token == "wrong":
                token = token[:-1] + ("A" if not token.endswith("A") else "B")
            headers.append((TOKEN_HEADER, token))
            if conversation_token == "two":
                headers.append((TOKEN_HEADER, token))
        if spec.webhook and content is not None and webhook_secret != "absent":
            if webhook_secret == "valid":
                headers.append((SECRET_HEADER, TELEGRAM_SECRET))
                with contextlib.suppress(Exception):
                    headers.append(("X-ZEvent-Signature", fake_zalo.signature(content)))
                if kind == "json" and isinstance(payload, dict) and "app_id" in payload:
                    with contextlib.suppress(Exception):
                        headers.append(("X-ZEvent-Signature", fake_zalo.signature(
                            content, app_id=fake_zalo.APP_ID, timestamp=str(payload.get("timestamp")))))
            else:
                headers += [(SECRET_HEADER, TELEGRAM_SECRET + "x"), ("X-ZEvent-Signature", "mac=" + "0" * 64)]
        headers += extra
        status = send(target, route, method, url, headers, content)
        if route in ("/api/auth/login", "/api/auth/logout") and status == 200 and role != "anonymous":
            target.refresh(role)
    assert_no_errors(target, route)


# --- the tests -------------------------------------------------------------------------------------

def test_every_route_of_the_app_is_fuzzed(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path)
    routes = app_routes(create_app(config).routes)
    assert set(routes) == set(FUZZ), {"not fuzzed": sorted(set(routes) - set(FUZZ)),
                                      "no longer a route": sorted(set(FUZZ) - set(routes))}
    for path, spec in FUZZ.items():
        names = set(part.split("}")[0].split(":")[0] for part in path.split("{")[1:])
        assert names == set(spec.params) or path == "/static", (path, names, set(spec.params))
    assert "?" not in {m for methods in routes.values() for m in methods}, "a route kind the fuzz cannot walk"


@pytest.mark.parametrize("route", sorted(FUZZ))
def test_fuzz_route(target, route):
    routes = app_routes(target.server.app.routes)
    methods = sorted(routes[route])
    spec = FUZZ[route]

    @(hypothesis_settings(SETTINGS, max_examples=max(3, EXAMPLES // 8)) if spec.slow else SETTINGS)
    @given(data=st.data())
    def run(data):
        attack(target, route, spec, methods, data)

    run()


def test_stores_hold_nothing_half_written(target):
    """Last (after the fuzz): what the requests left in the databases is whole."""
    db = sqlite3.connect(target.config.app_db)
    try:
        half = db.execute("SELECT id, status FROM messages WHERE status = 'pending' AND COALESCE(pending_text, '') = ''"
                          " AND COALESCE(payload, '') = ''").fetchall()
        assert half == [], "pending messages with nothing to send"
        assert db.execute("SELECT COUNT(*) FROM messages WHERE direction NOT IN ('in', 'out')").fetchone()[0] == 0
        for (buttons,) in db.execute("SELECT buttons FROM messages WHERE buttons IS NOT NULL"):
            assert isinstance(json.loads(buttons), list)
        for code, state, answers in db.execute("SELECT code, state, answers FROM dossiers"):
            assert isinstance(json.loads(answers), dict), code
            last = db.execute("SELECT to_state FROM dossier_events WHERE dossier_code = ? ORDER BY id DESC LIMIT 1",
                              (code,)).fetchone()
            assert last is not None and last[0] == state, (code, state, last)
        orphans = db.execute("SELECT COUNT(*) FROM dossier_events WHERE dossier_code NOT IN (SELECT code FROM dossiers)")
        assert orphans.fetchone()[0] == 0
        for (answers,) in db.execute("SELECT answers FROM form_drafts"):
            assert isinstance(json.loads(answers), dict)
    finally:
        db.close()
    assert_no_errors(target, "(after the run)")
