"""Leases (bot/leases.py): a background loop runs in one process at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from bot.leases import Leases


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_one_holder_at_a_time_and_a_dead_holder_is_replaced_after_its_ttl(app_database):
    clock = Clock()
    first, second = Leases(app_database, "app-1", clock), Leases(app_database, "app-2", clock)
    assert first.acquire("retry", ttl=90)
    assert not second.acquire("retry", ttl=90)
    clock.now += 60
    assert first.acquire("retry", ttl=90)           # the holder renews
    clock.now += 89
    assert not second.acquire("retry", ttl=90)      # renewed 89 s ago: still held
    clock.now += 2                                  # the holder died: 91 s without renewal
    assert second.acquire("retry", ttl=90)
    assert not first.acquire("retry", ttl=90)       # back from the dead, it does not take it back
    assert first.holder_of("retry") == "app-2"
    assert first.acquire("desk", ttl=15)            # leases are independent


def test_a_released_lease_is_taken_at_the_next_round(app_database):
    clock = Clock()
    first, second = Leases(app_database, "app-1", clock), Leases(app_database, "app-2", clock)
    assert first.acquire("retry", ttl=90) and first.acquire("desk", ttl=15)
    second.release_all()                            # another holder's release changes nothing
    assert not second.acquire("retry", ttl=90)
    first.release_all()                             # the holder stops
    assert second.acquire("retry", ttl=90) and second.acquire("desk", ttl=15)


def test_processes_racing_for_a_free_lease_get_it_exactly_once(app_database):
    clock = Clock()
    contenders = [Leases(app_database, f"app-{n}", clock) for n in range(8)]
    start, won = threading.Barrier(len(contenders)), []

    def race(leases: Leases) -> None:
        start.wait()
        if leases.acquire("purge", ttl=3600):
            won.append(leases.holder)

    threads = [threading.Thread(target=race, args=(leases,)) for leases in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and contenders[0].holder_of("purge") == won[0]
