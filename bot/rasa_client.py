"""A small async client for Rasa's REST channel (``/webhooks/rest/webhook``).

Two kinds of failure are told apart, because they call for different handling:

- ``RasaUnavailable``: Rasa (or the action server behind it) cannot serve anyone right
  now — connection refused, a timeout, or a turn that failed while the action server's
  health check fails too (or PostgreSQL / Redis, when the Rasa processes share them:
  ``bot.shared_stores``). The message waits and is retried; nobody is to blame.
- ``TurnFailed``: Rasa and the action server are up, but this one turn failed (an action
  raised, Rasa answered 5xx or nothing). Retrying it a few times is fine; after that it
  is marked failed so it cannot block the messages behind it.

Every request carries ``Authorization: Bearer <RASA_TOKEN>``: the REST channel refuses
requests without it (see ``bot/rasa_channel.py``).

While a volunteer has a chat (``bot/handover``), the conversation's tracker is paused through
Rasa's conversation API (``append_events`` with ``{"event": "pause"}``): ``record`` then sends the
citizen's messages through the same REST channel, Rasa logs them (intent, entities, slots) and
predicts no action, so the bot's context is whole when the tracker is resumed.

Several Rasa processes (``RASA_PROCESSES``): the client takes a list of base URLs. A
conversation goes to one of them, chosen by a stable hash of its id (crc32, the same in every
bot app process), so that process's tracker cache is usually warm; when that process cannot
be reached (connection refused: it is down or restarting), the turn goes to the next one.
The trackers are shared (``DATABASE_URL``) and Rasa's Redis lock store runs one turn of a
conversation at a time, so any process can serve any turn. A *timeout* is never sent
elsewhere: the turn may still finish where it is, and would be answered twice.

A reply may carry ``custom`` (an action's ``json_message``), e.g. ``{"handover": {"reason": …}}``:
the Router acts on it and never shows it.
"""

from __future__ import annotations

import zlib
from typing import Sequence
from urllib.parse import quote

import httpx

__all__ = ["RasaClient", "RasaError", "RasaUnavailable", "TurnFailed"]


# Rasa's web server (Sanic) closes an idle keep-alive connection after 5 s; ours are dropped
# sooner, so a message is never sent on a connection the server is just closing (a ReadError
# that would make the citizen wait for the retry loop).
KEEPALIVE_SECONDS = 2.0


class RasaError(Exception):
    """Rasa gave no usable answer to a message."""


class RasaUnavailable(RasaError):
    """Rasa (or the action server behind it) did not answer in time or is down."""

    timed_out = False


class RasaTimeout(RasaUnavailable):
    """Rasa did not answer within the timeout: the turn may still finish inside Rasa."""

    timed_out = True


class TurnFailed(RasaError):
    """Rasa is up but this turn failed (an action error, a 5xx, no reply at all)."""


class RasaClient:
    def __init__(self, base_url: str | Sequence[str], timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None, token: str | None = None,
                 actions_health_url: str | None = None, store_checks: Sequence = ()):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self._clients = [httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport, headers=headers,
                                           limits=httpx.Limits(max_connections=32, max_keepalive_connections=16,
                                                               keepalive_expiry=KEEPALIVE_SECONDS))
                         for url in urls]
        self._client = self._clients[0]
        self._actions_health_url = actions_health_url
        self._store_checks = list(store_checks)   # bot.shared_stores: PostgreSQL, Redis
        # Rasa's HTTP API (the conversation routes) takes its --auth-token as the ``token`` query
        # parameter, not as a header; it is only ever sent to Rasa on the loopback address.
        self._api_params = {"token": token} if token else {}

    async def send(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        """Send one message; return the bot's replies as ``{"text", "buttons"}`` dicts.

        Raises ``RasaUnavailable`` (``RasaTimeout`` for a timeout) or ``TurnFailed``.
        """
        body = {"sender": sender, "message": message, "metadata": metadata or {}}
        try:
            response = await self._request(sender, "POST", "/webhooks/rest/webhook", json=body)
        except httpx.TimeoutException as error:
            raise RasaTimeout(type(error).__name__) from error
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code in (401, 403):
            raise RasaUnavailable(f"refused by Rasa ({response.status_code}): check RASA_TOKEN")
        if response.status_code >= 400:
            raise await self._failure(f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise await self._failure("answer is not JSON") from None
        if not isinstance(data, list):
            raise await self._failure("unexpected answer")
        replies = [_reply(item) for item in data if isinstance(item, dict)
                   and (item.get("text") or item.get("buttons") or isinstance(item.get("custom"), dict))]
        if not replies:  # every turn of ours answers; none means an action failed inside Rasa
            raise await self._failure("no reply")
        return replies

    async def record(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        """Send a message to a paused conversation: Rasa logs it and (normally) answers nothing.

        Returns whatever Rasa answered (the caller ignores it); raises ``RasaUnavailable`` when the
        message could not be logged.
        """
        body = {"sender": sender, "message": message, "metadata": metadata or {}}
        try:
            response = await self._request(sender, "POST", "/webhooks/rest/webhook", json=body)
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code >= 400:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            return []
        return [_reply(item) for item in data if isinstance(item, dict)] if isinstance(data, list) else []

    async def append_events(self, sender: str, events: list[dict]) -> None:
        """Append events (``pause``, ``resume``, ``bot``, ``action``) to a conversation's tracker."""
        try:
            response = await self._request(sender, "POST", f"/conversations/{quote(sender, safe='')}/tracker/events",
                                           params={"include_events": "NONE", **self._api_params}, json=events)
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code >= 400:
            raise RasaUnavailable(f"HTTP {response.status_code}")

    async def tracker(self, sender: str) -> dict:
        """The conversation's tracker (slots, latest message, events since the last restart)."""
        try:
            response = await self._request(sender, "GET", f"/conversations/{quote(sender, safe='')}/tracker",
                                           params={"include_events": "AFTER_RESTART", **self._api_params})
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code >= 400:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def _failure(self, reason: str) -> RasaError:
        """``TurnFailed``, unless the action server or a store the Rasa processes share (PostgreSQL,
        Redis) is down: then every turn fails, an outage."""
        if not await self.actions_healthy():
            return RasaUnavailable(f"{reason}; action server down")
        for check in self._store_checks:
            if not await check():
                return RasaUnavailable(f"{reason}; a shared store is down")
        return TurnFailed(reason)

    def _order(self, sender: str) -> list[httpx.AsyncClient]:
        """The Rasa processes to try for ``sender``: its own first, then the others in turn."""
        first = zlib.crc32(sender.encode("utf-8", "surrogatepass")) % len(self._clients)
        return self._clients[first:] + self._clients[:first]

    async def _request(self, sender: str, method: str, path: str, **kwargs) -> httpx.Response:
        """One request to the conversation's Rasa process, or to the next one that can be reached."""
        order = self._order(sender)
        for position, client in enumerate(order):
            try:
                return await client.request(method, path, **kwargs)
            except httpx.ConnectError:
                # Not connected (refused: down or restarting), so nothing was processed there.
                if position == len(order) - 1:
                    raise
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                # The connection broke (a kept-alive connection to a process that was killed). When
                # the process is gone, the turn goes to the next one, as the retry loop would send
                # it again later; when it is still up, the failure is the caller's (kept, retried).
                if position == len(order) - 1 or await self._reachable(client):
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _reachable(client: httpx.AsyncClient) -> bool:
        try:
            await client.get("/", timeout=2)
            return True
        except httpx.TransportError:
            return False

    async def healthy(self) -> bool:
        """Whether at least one Rasa process answers."""
        for client in self._clients:
            try:
                if (await client.get("/")).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
        return False

    async def actions_healthy(self) -> bool:
        """Whether the action server answers its health check (True when its address is unknown)."""
        if not self._actions_health_url:
            return True
        try:
            request = self._client.build_request("GET", self._actions_health_url, timeout=2)
            request.headers.pop("Authorization", None)  # Rasa's token is for Rasa only
            return (await self._client.send(request)).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def _reply(item: dict) -> dict:
    text = item.get("text") if isinstance(item.get("text"), str) else ""
    buttons = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
               for b in item.get("buttons") or [] if isinstance(b, dict)]
    reply = {"text": text, "buttons": buttons}
    if isinstance(item.get("custom"), dict):
        reply["custom"] = item["custom"]
    return reply
