"""Rate limits (bot/ratelimit.py) in the SQLite file and in Redis: the same rules, shared by processes."""

from __future__ import annotations

import threading

import pytest

from bot.ratelimit import RateLimiter, RedisRateLimiter, for_config


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def make(request, tmp_path):
    """A factory of limiters on one shared backend: each call is another process (or machine)."""
    if request.param == "sqlite":
        yield lambda clock, secret="k": RateLimiter(tmp_path / "limits.db", clock=clock, key_secret=secret)
        return
    import redis

    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    yield lambda clock, secret="k": RedisRateLimiter(url, clock=clock, key_secret=secret)


def test_a_sliding_window_counted_across_processes(make):
    clock = Clock()
    first, second = make(clock), make(clock)
    assert [first.allow("ip:203.0.113.7", limit=3, window=60) for _ in range(2)] == [True, True]
    assert second.allow("ip:203.0.113.7", limit=3, window=60)          # the other process counts too
    assert not first.allow("ip:203.0.113.7", limit=3, window=60)
    assert second.allow("ip:198.51.100.1", limit=3, window=60)         # another key
    clock.now += 61
    assert second.allow("ip:203.0.113.7", limit=3, window=60)          # the window slid


def test_allow_all_counts_every_rule_or_none(make):
    clock = Clock()
    limits = make(clock)
    assert limits.allow("conv:c1", limit=1, window=60)
    assert not limits.allow_all([("ip:a", 5, 60), ("conv:c1", 1, 60)])   # c1 is over: a is not counted
    assert all(limits.allow("ip:a", limit=5, window=60) for _ in range(5))


def test_blocked_only_looks_and_record_and_reset(make):
    clock = Clock()
    limits = make(clock)
    for _ in range(5):
        assert not limits.blocked("guess-code:HS-2026-7KQ4M9", limit=5, window=3600)
        limits.record("guess-code:HS-2026-7KQ4M9")
    assert limits.blocked("guess-code:HS-2026-7KQ4M9", limit=5, window=3600)
    make(clock).reset("guess-code:HS-2026-7KQ4M9")
    assert not limits.blocked("guess-code:HS-2026-7KQ4M9", limit=5, window=3600)


def test_concurrent_hits_never_pass_the_limit(make):
    clock = Clock()
    limiters = [make(clock) for _ in range(4)]
    allowed, start = [], threading.Barrier(8)

    def hit(limits):
        start.wait()
        for _ in range(10):
            if limits.allow("ip:203.0.113.9", limit=25, window=60):
                allowed.append(1)

    threads = [threading.Thread(target=hit, args=(limiters[n % 4],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 25


def test_redis_keeps_digests_not_addresses(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    RedisRateLimiter(redis_url, key_secret="secret").allow("ip:203.0.113.7", limit=5, window=60)
    names = b" ".join(client.keys("*"))
    assert names and b"203.0.113.7" not in names


def test_the_deployment_picks_redis_when_redis_url_is_set(tmp_path, redis_url):
    from dataclasses import replace

    from bot import settings

    config = replace(settings.load(), data_dir=tmp_path)
    assert type(for_config(config)) is RateLimiter
    assert isinstance(for_config(replace(config, redis_url=redis_url)), RedisRateLimiter)


def test_a_citizens_hits_are_exported_and_forgotten_on_request(make):
    """What bot/privacy.py reads and deletes: the hits of one conversation's keys, no other's."""
    clock = Clock()
    limits = make(clock)
    limits.allow("conversation:c1", limit=20, window=60)
    clock.now += 1
    limits.allow("conversation:c1", limit=20, window=60)
    limits.allow("conversation:c2", limit=20, window=60)
    assert limits.hits(["conversation:c1"]) == [("conversation:c1", 1_800_000_000.0),
                                                ("conversation:c1", 1_800_000_001.0)]
    assert make(clock).forget(["conversation:c1"]) == 2
    assert limits.hits(["conversation:c1"]) == [] and len(limits.hits(["conversation:c2"])) == 1
    assert limits.allow("conversation:c1", limit=1, window=60)     # counting starts afresh
