"""A small async client for Rasa's REST channel (``/webhooks/rest/webhook``)."""

from __future__ import annotations

import httpx


class RasaUnavailable(Exception):
    """Rasa (or the action server behind it) did not answer in time or answered with an error."""


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None):
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                                         limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    async def send(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        """Send one message; return the bot's replies as ``{"text", "buttons"}`` dicts."""
        body = {"sender": sender, "message": message, "metadata": metadata or {}}
        try:
            response = await self._client.post("/webhooks/rest/webhook", json=body)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise RasaUnavailable(type(error).__name__) from error
        if not isinstance(data, list):
            raise RasaUnavailable("unexpected answer")
        replies = [_reply(item) for item in data if item.get("text") or item.get("buttons")]
        if not replies:  # every turn of ours answers; none means an action failed inside Rasa
            raise RasaUnavailable("no reply")
        return replies

    async def healthy(self) -> bool:
        try:
            return (await self._client.get("/")).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


def _reply(item: dict) -> dict:
    buttons = [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in item.get("buttons") or []]
    return {"text": item.get("text") or "", "buttons": buttons}
