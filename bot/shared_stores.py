"""Health checks of the stores Rasa's processes share (``DATABASE_URL``, ``REDIS_URL``).

When PostgreSQL or Redis is down, every turn fails inside Rasa (its tracker store or lock store
raises) while Rasa itself still answers its health check. Without these checks the bot app would
take that for a failed *turn* and, after ``MAX_ATTEMPTS``, mark the citizen's message failed. With
them it is what it is, an outage: the citizen gets the polite busy answer, the message is kept
and answered once the store is back (``bot.rasa_client.RasaClient._failure``). The checks only
run after a turn failed, so they cost nothing while all is well.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from bot.settings import Settings

Check = Callable[[], Awaitable[bool]]
TIMEOUT = 2.0   # seconds


def redis_check(url: str) -> Check:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)

    async def healthy() -> bool:
        try:
            return bool(await client.ping())
        except (redis.exceptions.RedisError, OSError):
            return False

    return healthy


def database_check(url: str) -> Check:
    import sqlalchemy as sa

    connect_args = {"connect_timeout": int(TIMEOUT)} if url.startswith("postgres") else {}
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True, connect_args=connect_args)

    def select_one() -> bool:
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text("SELECT 1")).scalar() == 1
        except sa.exc.SQLAlchemyError:
            return False

    async def healthy() -> bool:
        return await asyncio.to_thread(select_one)

    return healthy


def health_checks(config: Settings) -> list[Check]:
    """A check for each shared store these settings use (none on the SQLite default)."""
    checks = []
    if config.database_url:
        checks.append(database_check(config.database_url))
    if config.redis_url:
        checks.append(redis_check(config.redis_url))
    return checks
