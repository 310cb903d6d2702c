"""Asking for a person. The volunteer handover itself lives in the bot app (bot/)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import BaseAction


class ActionRequestHuman(BaseAction):
    """Tells the citizen how to reach a person."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            text=("Hiện chưa có tình nguyện viên trực tuyến qua kênh chat này. Bạn có thể đến bộ phận một cửa "
                  "UBND xã/phường hoặc Trung tâm Phục vụ hành chính công nơi cư trú, tổ tư vấn của Đoàn Thanh niên "
                  "sẽ hỗ trợ trực tiếp. Trong lúc đó mình vẫn có thể trả lời các câu hỏi về thủ tục.")
        )
        return []
