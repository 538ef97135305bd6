"""The databases of the shared Redis server that tests claim: one claimant's at a time, never database 0,
empty when handed out, and a claim let go (and its data flushed) only by the claimant that still holds it."""

from __future__ import annotations

import os

import redis

from tests.servers import REDIS_CLAIM_PREFIX, REDIS_CLAIM_SECONDS, REDIS_TEST_URL, claimed_redis_database


def number_of(url: str) -> int:
    return int(url.rsplit("/", 1)[1])


def test_claims_held_at_once_get_different_databases_never_database_0() -> None:
    control = redis.Redis.from_url(f"{REDIS_TEST_URL.rstrip('/')}/0", decode_responses=True)
    with claimed_redis_database() as first, claimed_redis_database() as second:
        numbers = [number_of(first), number_of(second)]
        assert len(set(numbers)) == 2 and 0 not in numbers
        holders = [control.get(f"{REDIS_CLAIM_PREFIX}{n}") for n in numbers]
        assert all(h and h.startswith(f"{os.getpid()}:") for h in holders), holders
        assert holders[0] != holders[1]
        assert all(0 < control.ttl(f"{REDIS_CLAIM_PREFIX}{n}") <= REDIS_CLAIM_SECONDS for n in numbers)
        one, two = redis.Redis.from_url(first), redis.Redis.from_url(second)
        assert one.dbsize() == two.dbsize() == 0
        one.set("edocta-test:key", "first")
        assert two.get("edocta-test:key") is None
        one.close()
        two.close()
    # Released: the keys are gone, or already someone else's claim.
    assert all(control.get(f"{REDIS_CLAIM_PREFIX}{n}") != h for n, h in zip(numbers, holders, strict=True))
    control.close()


def test_a_claim_that_is_someone_elses_by_the_end_is_neither_flushed_nor_released() -> None:
    control = redis.Redis.from_url(f"{REDIS_TEST_URL.rstrip('/')}/0", decode_responses=True)
    with claimed_redis_database() as url:
        key = f"{REDIS_CLAIM_PREFIX}{number_of(url)}"
        # As if this claim had expired and another session had claimed the database and written to it.
        control.set(key, "another-session", ex=60)
        data = redis.Redis.from_url(url)
        data.set("edocta-test:theirs", "kept")
    assert control.get(key) == "another-session"
    assert data.get("edocta-test:theirs") == b"kept"
    data.flushdb()
    data.close()
    control.delete(key)
    control.close()
