"""The lean Redis GET (`web.loopredis`) against real Redis servers: the shared one, and a password-protected one
of the test's own that it stops and starts."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.servers import free_port, wait_for
from web.loopredis import LeanRedis, RedisReplyError, lean_redis_for


def run(coroutine_function: object) -> object:
    return asyncio.run(coroutine_function())  # type: ignore[operator]


def test_concurrent_gets_on_one_connection_each_get_their_own_value(redis_url: str) -> None:
    values = {f"edocta-test:key:{n}": (b"\x00\r\n%d" % n) * (n * 97 % 400) for n in range(200)}
    plain = redis.Redis.from_url(redis_url)
    plain.mset(values)
    plain.lpush("edocta-test:a-list", "x")

    async def main() -> None:
        lean = lean_redis_for(redis_url)
        assert lean is not None and lean_redis_for(redis_url) is lean
        keys = [*values, "edocta-test:missing"] * 3
        found = await asyncio.gather(*(lean.get(key) for key in keys))
        assert found == [values.get(key) for key in keys]
        # An error reply fails its own request only; the connection stays in step.
        with pytest.raises(RedisReplyError, match="WRONGTYPE"):
            await lean.get("edocta-test:a-list")
        assert await lean.get("edocta-test:key:5") == values["edocta-test:key:5"]

    run(main)
    plain.close()


def test_urls_it_does_not_speak_get_no_lean_client() -> None:
    async def main() -> None:
        assert lean_redis_for("rediss://127.0.0.1:6379/0") is None
        assert lean_redis_for("unix:///tmp/redis.sock?db=2") is None
        assert lean_redis_for("redis://127.0.0.1:6379/0?socket_timeout=3") is None

    run(main)


@pytest.fixture
def guarded_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own that asks for a password (the URL says database 3)."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--requirepass", "s3cret", "--dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            return bool(redis.Redis(port=port, password="s3cret").ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, 10, "the private Redis to answer")
        yield f"redis://:s3cret@127.0.0.1:{port}/3", process
    finally:
        process.kill()
        process.wait(10)


def test_password_and_database_of_the_url_are_used_and_a_lost_connection_is_replaced(
    guarded_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = guarded_redis
    plain = redis.Redis.from_url(url)
    plain.set("session", b"in database 3")
    redis.Redis.from_url(url.replace("/3", "/0")).set("session", b"in database 0")
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    async def main() -> None:
        lean = lean_redis_for(url)
        assert lean is not None
        assert await lean.get("session") == b"in database 3"
        # The server drops its clients: the next request opens a new connection.
        plain.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.1)
        assert await lean.get("session") == b"in database 3"
        wrong = LeanRedis("127.0.0.1", port, 3, None, "not the password")
        with pytest.raises(RedisReplyError):
            await wrong.get("session")
        # The server goes away while requests wait: each fails (its caller answers by the full path).
        plain.client_pause(2000)
        waiting = [asyncio.ensure_future(lean.get("session")) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert not any(request.done() for request in waiting)
        process.kill()
        for request in waiting:
            with pytest.raises(ConnectionError):
                await request

    run(main)
    plain.close()


def test_a_get_given_up_drops_its_connection_so_the_next_does_not_wait_behind_it(
    guarded_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _process = guarded_redis
    plain = redis.Redis.from_url(url)
    plain.set("session", b"kept")

    def connections_received() -> int:
        return int(plain.info("stats")["total_connections_received"])

    async def main() -> None:
        lean = lean_redis_for(url)
        assert lean is not None
        assert await lean.get("session") == b"kept"
        before = connections_received()
        plain.client_pause(800)  # the server stops answering for a while
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await lean.get("session")
        await asyncio.sleep(1.0)
        assert await lean.get("session") == b"kept"
        assert connections_received() == before + 1  # a new connection, not the one given up on

    run(main)
    plain.close()
