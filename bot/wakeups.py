"""Wakes the open event streams (the web chat's, the volunteer console's) when a message is stored.

``notify`` may be called from any thread (the staff API changes states in the thread pool). In one
process the streams wake at once. Messages stored by another process are found by the streams'
polling (``EVENTS_POLL_SECONDS``, 1 s) — or at once with ``REDIS_URL``: every process then publishes
the key it woke on one Redis channel and wakes its own streams for the keys the others published.
The keys are conversation ids (random, no personal data) and the console's key. Redis being down
costs nothing but that second: publishing never blocks the event loop (a queue feeds one task), and
the subscriber reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

log = logging.getLogger(__name__)

CHANNEL = "thtc:wake"
QUEUE_LIMIT = 10_000  # keys waiting to be published; beyond that they are dropped (polling finds them)


class Wakeups:
    def __init__(self, loop: asyncio.AbstractEventLoop, redis_url: str = "") -> None:
        self._loop = loop
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._redis_url = redis_url
        self._origin = uuid.uuid4().hex
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self._tasks: list[asyncio.Task] = []

    # -- Redis relay (REDIS_URL) ---------------------------------------------------------
    def start(self) -> None:
        """Start relaying through Redis (call on the loop; nothing without ``redis_url``)."""
        if self._redis_url and not self._tasks:
            self._tasks = [asyncio.create_task(self._publish()), asyncio.create_task(self._subscribe())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _publish(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            while True:
                key = await self._outgoing.get()
                try:
                    await client.publish(CHANNEL, f"{self._origin} {key}")
                except Exception as error:  # noqa: BLE001 — Redis down: the streams' polling finds it
                    log.warning("live update not relayed: %s", type(error).__name__)
                    await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _subscribe(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(self._redis_url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        origin, _, key = message["data"].decode("utf-8", "replace").partition(" ")
                        if origin != self._origin:
                            self._wake(key)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 — reconnect; meanwhile the polling covers
                log.warning("live updates from other processes paused: %s", type(error).__name__)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await client.close()

    # -- local streams ---------------------------------------------------------------------
    def notify(self, conversation_id: str) -> None:
        with contextlib.suppress(RuntimeError):   # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._notified, conversation_id)

    def _notified(self, key: str) -> None:
        self._wake(key)
        if self._tasks:
            with contextlib.suppress(asyncio.QueueFull):
                self._outgoing.put_nowait(key)

    def _wake(self, conversation_id: str) -> None:
        for event in self._waiting.get(conversation_id, ()):
            event.set()

    @contextlib.contextmanager
    def listen(self, conversation_id: str):
        event = asyncio.Event()
        self._waiting.setdefault(conversation_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._waiting.get(conversation_id, set())
            waiting.discard(event)
            if not waiting:
                self._waiting.pop(conversation_id, None)

    def listeners(self, conversation_id: str | None = None) -> int:
        """How many streams wait (for one conversation, or in all): tests check streams end."""
        if conversation_id is not None:
            return len(self._waiting.get(conversation_id, ()))
        return sum(len(events) for events in self._waiting.values())
