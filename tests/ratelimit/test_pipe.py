"""The pipelined script connection: both event loops, script reload, outages, timeouts."""

from __future__ import annotations

import asyncio
import signal

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.servers import RedisServer
from tollway.ratelimit.pipe import ScriptPipe, encode_command

ECHO = "return {KEYS[1], ARGV[1]}"


def pipe_for(server: RedisServer, timeout: float = 1.0) -> ScriptPipe:
    return ScriptPipe(ECHO, host="127.0.0.1", port=server.port, timeout=timeout)


def test_encoding() -> None:
    assert encode_command("GET", "k", 7) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\n7\r\n"
    assert encode_command("SET", "ключ", b"\x00") == (
        b"*3\r\n$3\r\nSET\r\n$8\r\n\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\r\n$1\r\n\x00\r\n"
    )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_concurrent_calls_get_their_own_replies(redis_server: RedisServer, loop: str) -> None:
    async def run() -> None:
        pipe = pipe_for(redis_server)
        try:
            replies = await asyncio.gather(*[pipe.evalsha([f"k{i}"], [i]) for i in range(500)])
            assert replies == [[f"k{i}".encode(), str(i).encode()] for i in range(500)]
        finally:
            await pipe.aclose()

    if loop == "uvloop":
        uvloop.run(run())
    else:
        asyncio.run(run())


async def test_script_is_reloaded_after_a_flush(redis_server: RedisServer) -> None:
    pipe = pipe_for(redis_server)
    client = Redis.from_url(redis_server.url)
    try:
        assert await pipe.evalsha(["a"], [1]) == [b"a", b"1"]
        await client.script_flush()
        assert await pipe.evalsha(["b"], [2]) == [b"b", b"2"]
    finally:
        await pipe.aclose()
        await client.aclose()


async def test_outage_raises_then_recovers(own_redis: RedisServer) -> None:
    pipe = pipe_for(own_redis)
    try:
        assert await pipe.evalsha(["a"], [1]) == [b"a", b"1"]
        own_redis.stop()
        with pytest.raises(RedisConnectionError):
            await pipe.evalsha(["a"], [1])
        own_redis.start()
        assert await pipe.evalsha(["a"], [2]) == [b"a", b"2"]
    finally:
        await pipe.aclose()


async def test_a_stalled_server_times_out(own_redis: RedisServer) -> None:
    pipe = pipe_for(own_redis, timeout=0.3)
    process = own_redis._process
    assert process is not None
    try:
        assert await pipe.evalsha(["a"], [1]) == [b"a", b"1"]
        process.send_signal(signal.SIGSTOP)  # accepts nothing, answers nothing
        try:
            with pytest.raises(RedisTimeoutError):
                await pipe.evalsha(["a"], [1])
        finally:
            process.send_signal(signal.SIGCONT)
        assert await pipe.evalsha(["a"], [3]) == [b"a", b"3"]
    finally:
        await pipe.aclose()
