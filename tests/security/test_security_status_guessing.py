"""Hardening 8: guessing a dossier's status with the last 4 phone digits.

Found as: the 5-guesses-per-hour limit lived in the action server's memory (lost on restart,
one per worker), counted per code only, and codes were sequential (HS-2026-000123), so an
attacker could walk the codes and try 5 digit groups on each, or restart-and-retry.
Now: random codes, and every attempt counts in the persisted RateLimiter per code (5/h),
per conversation (20/h) and over all codes (200/h); a refused attempt is never compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import dossiers
from actions.dossiers import (GUESSES_GLOBAL, GUESSES_PER_CLIENT, GUESSES_PER_CODE, TOO_MANY_GUESSES,
                              ActionCheckStatus)
from bot.dossiers import DossierStore
from bot.dossiers.codes import ALPHABET, CODE_RE, LETTERS, find_code, new_code, normalise_code
from bot.ratelimit import RateLimiter
from bot.settings import ROOT
from tests.conftest import make_tracker
from tests.test_dossier_actions import Citizen

PHONE = "0912345678"   # last 4: 5678


@pytest.fixture(autouse=True)
def data_dir(dossier_data):
    return dossier_data


def make_dossier(conversation="owner", phone=PHONE):
    return dossiers.dossier_store().create("ho-chieu", conversation, {"phone": phone}, form_id="TK01", phone=phone)


async def ask(domain, text, conversation="attacker"):
    tracker = make_tracker("check_status", text)
    tracker.sender_id = conversation
    dispatcher = CollectingDispatcher()
    await ActionCheckStatus().run(dispatcher, tracker, domain)
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


def granted(reply: str) -> bool:
    return "Trạng thái" in reply


# --- the limits ---------------------------------------------------------------------------------

async def test_ten_thousand_guesses_against_one_code_from_one_conversation(domain, monkeypatch):
    code = make_dossier().code
    compared = []
    real_get_for = DossierStore.get_for

    def spy(self, code, conversation_id=None, phone_last4=None):
        if phone_last4 is not None:
            compared.append(phone_last4)
        return real_get_for(self, code, conversation_id=conversation_id, phone_last4=phone_last4)

    monkeypatch.setattr(DossierStore, "get_for", spy)
    successes = []
    for guess in range(10_000):
        reply = await ask(domain, f"{code} {guess:04d}")
        if granted(reply):
            successes.append(guess)
    assert successes == []                                   # 5678 was tried, long after the limit
    assert compared == [f"{g:04d}" for g in range(GUESSES_PER_CODE)]   # refused guesses never compared


async def test_rotating_conversations_does_not_lift_the_per_code_limit(domain):
    code = make_dossier().code
    for n in range(GUESSES_PER_CODE):
        assert "Không tìm thấy" in await ask(domain, f"{code} {n:04d}", conversation=f"bot-{n}")
    for n in range(GUESSES_PER_CODE, 10_000, 997):      # the right digits included
        reply = await ask(domain, f"{code} 5678", conversation=f"bot-{n}")
        assert reply == TOO_MANY_GUESSES
    owner = await ask(domain, f"hồ sơ {code} đến đâu rồi?", conversation="owner")
    assert granted(owner)                                    # the owner's own chat is not limited


async def test_the_limit_survives_a_new_limiter_and_a_new_process(domain, data_dir):
    code = make_dossier().code
    for n in range(GUESSES_PER_CODE):
        await ask(domain, f"{code} {n:04d}")
    dossiers._limiter_at.cache_clear()                       # a new RateLimiter on the same file
    dossiers._store_at.cache_clear()
    assert await ask(domain, f"{code} 5678", conversation="fresh") == TOO_MANY_GUESSES
    script = (
        "import asyncio, sys\n"
        "from rasa_sdk.executor import CollectingDispatcher\n"
        "from actions.dossiers import ActionCheckStatus\n"
        "from tests.conftest import make_tracker\n"
        "t = make_tracker('check_status', sys.argv[1]); t.sender_id = 'other-process'\n"
        "d = CollectingDispatcher()\n"
        "asyncio.run(ActionCheckStatus().run(d, t, {}))\n"
        "print(d.messages[0]['text'])\n")
    env = {**os.environ, "BOT_DATA_DIR": str(data_dir), "BOT_SECRET": "test-secret-at-least-16-bytes"}
    out = subprocess.run([sys.executable, "-c", script, f"{code} 5678"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == TOO_MANY_GUESSES


async def test_per_conversation_limit_across_codes(domain):
    codes = [make_dossier(conversation=f"owner-{n}").code for n in range(GUESSES_PER_CLIENT + 5)]
    replies = [await ask(domain, f"{code} 0000", conversation="walker") for code in codes]
    assert all("Không tìm thấy" in r for r in replies[:GUESSES_PER_CLIENT])
    assert all(r == TOO_MANY_GUESSES for r in replies[GUESSES_PER_CLIENT:])
    # the right digits from that conversation are refused too, without being checked
    assert await ask(domain, f"{codes[-1]} 5678", conversation="walker") == TOO_MANY_GUESSES


async def test_global_ceiling_over_many_codes_and_conversations(domain):
    store = dossiers.dossier_store()
    codes = [store.create("ho-chieu", f"owner-{n}", {}, phone=PHONE).code for n in range(GUESSES_GLOBAL + 50)]
    granted_count = refused = 0
    for n, code in enumerate(codes):               # one guess per code, each from a new conversation
        reply = await ask(domain, f"{code} 5678", conversation=f"bot-{n}")
        granted_count += granted(reply)
        refused += reply == TOO_MANY_GUESSES
    assert granted_count == GUESSES_GLOBAL and refused == 50
    fresh = make_dossier(conversation="late-owner").code
    assert await ask(domain, f"{fresh} 5678", conversation="late-visitor") == TOO_MANY_GUESSES
    assert granted(await ask(domain, f"hồ sơ {fresh}", conversation="late-owner"))


async def test_limits_expire_after_the_hour(domain, monkeypatch):
    code = make_dossier().code
    now = [time.time()]
    limiter = RateLimiter(dossiers.settings.load().limits_db, clock=lambda: now[0])
    monkeypatch.setattr(dossiers, "guess_limiter", lambda: limiter)
    for n in range(GUESSES_PER_CODE):
        await ask(domain, f"{code} {n:04d}")
    assert await ask(domain, f"{code} 5678") == TOO_MANY_GUESSES
    now[0] += 3601
    assert granted(await ask(domain, f"{code} 5678"))


# --- what a successful phone-digit check shows ---------------------------------------------------

async def test_phone_digits_never_reveal_staff_notes(domain):
    owner = Citizen(domain)
    code = await owner.create_passport_dossier()
    store = dossiers.dossier_store()
    store.transition(code, "da_nop", actor="citizen")
    store.transition(code, "da_tiep_nhan", actor="canbo:12")
    store.transition(code, "can_bo_sung", actor="canbo:12", note="Thiếu ảnh 4x6; gọi chị Nhung số 0912345678")
    stranger = await ask(domain, f"{code} 5678", conversation="stranger")
    assert granted(stranger) and "bổ sung" in stranger.lower()
    assert "Thiếu ảnh" not in stranger and "Nhung" not in stranger and "/dossiers/pdf/" not in stranger
    mine, _ = await owner.say(ActionCheckStatus(), f"hồ sơ {code} đến đâu rồi?", "check_status")
    assert "Thiếu ảnh 4x6" in mine


# --- codes ------------------------------------------------------------------------------------------

def test_codes_are_random_readable_and_do_not_reveal_the_counter(tmp_path):
    store = DossierStore(tmp_path / "d.sqlite")
    made = [store.create("ho-chieu", f"c{n}", {}, phone=PHONE).code for n in range(300)]
    assert len(set(made)) == 300 and all(CODE_RE.match(c) for c in made)
    randoms = [c.split("-")[2] for c in made]
    assert not any(set(r) & set("01OIL") for r in randoms)
    assert all(r[0] in LETTERS and r[-1] in LETTERS for r in randoms)
    assert not any(f"{n:06d}" in c or c.endswith(f"{n}") for n, c in enumerate(made, 1) if n > 9)
    assert len({r[1] for r in randoms}) > 15          # every position varies
    assert sorted(made) != made
    assert len(ALPHABET) == 27 and len(LETTERS) ** 2 * len(ALPHABET) ** 4 > 150_000_000


@pytest.mark.parametrize("typed", ["HS-2026-K7Q4MP", "hs-2026-k7q4mp", "hs 2026 k7q4mp", "HS2026K7Q4MP",
                                   " Hs – 2026 – K7q4Mp ", "ＨＳ－２０２６－Ｋ７Ｑ４ＭＰ", "hs.2026.k7q4mp"])
def test_codes_are_read_in_any_case_and_spacing(typed):
    assert normalise_code(typed) == "HS-2026-K7Q4MP"


@pytest.mark.parametrize("text", ["HS-2026-K7Q4MP 5678", "hs 2026 k7q4mp 5678", "HS2026K7Q4MP5678",
                                  "HS-2026-K7Q4MP-5678", "mã HS-2026-K7Q4MP, số cuối 5678"])
async def test_a_code_never_swallows_the_last_four_digits(domain, text):
    for _ in range(50):   # whatever characters the random part has
        code = new_code(2026)
        found = find_code(text.replace("K7Q4MP", code[-6:]).replace("k7q4mp", code[-6:].lower()))
        assert found[0] == code
    d = make_dossier()
    typed = text.replace("K7Q4MP", d.code[-6:]).replace("k7q4mp", d.code[-6:].lower()).replace("2026", d.code[3:7])
    assert granted(await ask(domain, typed, conversation=f"s-{text}"))


async def test_old_sequential_codes_are_still_found_and_limited(domain, tmp_path):
    store = dossiers.dossier_store()
    d = make_dossier()
    with store.db.write() as tx:                   # a dossier created before the new format (SQLite here)
        tx.execute("PRAGMA defer_foreign_keys = ON")
        tx.execute("UPDATE dossiers SET code = 'HS-2026-000123' WHERE code = ?", (d.code,))
        tx.execute("UPDATE dossier_events SET dossier_code = 'HS-2026-000123' WHERE dossier_code = ?", (d.code,))
    assert granted(await ask(domain, "hồ sơ HS-2026-000123 5678"))
    for n in range(GUESSES_PER_CODE):
        await ask(domain, f"HS-2026-000123 {n:04d}")
    assert await ask(domain, "HS-2026-000123 5678") == TOO_MANY_GUESSES
