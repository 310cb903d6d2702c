"""``python -m bot telegram set-webhook`` registers our webhook URL and secret with Telegram."""

from __future__ import annotations

import pytest

from bot.__main__ import main
from tests.channels.fake_telegram import FakeTelegram
from tests.conftest import free_port
from tests.loopback import LoopbackServer


def test_set_and_delete_webhook(monkeypatch, tmp_path, capsys):
    fake = FakeTelegram()
    with LoopbackServer(fake.app, port=free_port()) as server:
        for name, value in {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_WEBHOOK_SECRET": "s3cret_-A",
                            "TELEGRAM_API_URL": f"http://127.0.0.1:{server.port}", "BOT_DATA_DIR": str(tmp_path),
                            "BOT_PUBLIC_URL": "https://tro-ly.example.gov.vn"}.items():
            monkeypatch.setenv(name, value)
        main(["telegram", "set-webhook"])
        main(["telegram", "delete-webhook"])
    call = fake.calls_to("setWebhook")[0]
    assert call.param("url") == "https://tro-ly.example.gov.vn/channels/telegram/webhook"
    assert call.param("secret_token") == "s3cret_-A"
    assert fake.calls_to("deleteWebhook")
    assert "Đã đăng ký webhook Telegram" in capsys.readouterr().out


def test_off_without_credentials(monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stop:
        main(["telegram", "set-webhook"])
    assert "Telegram đang tắt" in str(stop.value)
