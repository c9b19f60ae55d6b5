"""The step's lean round trips (state/wire.py), on real Redis: replies in order, errors in
place, scripts loaded where the server lacks them, a dropped connection reconnected."""

from __future__ import annotations

import pytest
import redis as redis_lib
from redis.exceptions import NoScriptError, ResponseError

from mmtasks.state import wire

COUNT = wire.Call("return redis.call('INCRBY', KEYS[1], ARGV[1])", ["wire:n"], [5])


def test_send_answers_every_command_in_order_with_an_error_reply_in_its_place(
    redis_client: redis_lib.Redis,
) -> None:
    replies = wire.send(
        redis_client,
        [("SET", "wire:k", "text"), ("INCR", "wire:k"), ("GET", "wire:k"), ("PING",)],
    )

    assert replies[0] == "OK"  # no response callback: what the server said, decoded
    assert isinstance(replies[1], ResponseError)  # "not an integer": the others still read
    assert replies[2:] == ["text", "PONG"]
    assert wire.send(redis_client, [("GET", "wire:k")]) == ["text"]  # the connection in step


def test_replies_are_bytes_on_a_client_that_does_not_decode(redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)

    assert wire.send(client, [("SET", "wire:k", "v"), ("GET", "wire:k")]) == [b"OK", b"v"]
    client.close()


def test_a_script_the_server_does_not_know_is_sent_again_as_eval_once(
    redis_client: redis_lib.Redis,
) -> None:
    redis_client.script_flush()  # a restarted Redis: the script's sha is unknown there
    assert isinstance(wire.send(redis_client, [COUNT.command()])[0], NoScriptError)
    assert redis_client.get("wire:n") is None  # refused: it did not run

    assert wire.run(redis_client, [("PING",), COUNT]) == ["PONG", 5]  # ran once, as EVAL

    assert redis_client.script_exists(wire.sha_of(COUNT.text)) == [True]  # EVAL loaded it
    assert wire.run_one(redis_client, COUNT) == 10  # by its sha from now on


def test_run_one_raises_the_error_a_script_answers(redis_client: redis_lib.Redis) -> None:
    with pytest.raises(ResponseError, match="LOCK_LOST"):
        wire.run_one(redis_client, wire.Call("return redis.error_reply('LOCK_LOST')", []))


def test_a_connection_the_server_closed_is_opened_again_before_anything_is_sent(
    redis_client: redis_lib.Redis, redis_url: str
) -> None:
    assert wire.run_one(redis_client, COUNT) == 5
    own = wire.send(redis_client, [("CLIENT", "ID")])[0]  # this thread's own connection
    admin = redis_lib.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_id=own) == 1

    assert wire.run_one(redis_client, COUNT) == 10  # seen closed before the send: reconnected
    admin.close()


def test_a_server_that_cannot_be_reached_raises_a_connection_error() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis_lib.Redis(port=1, retry=Retry(NoBackoff(), 1), socket_connect_timeout=1)

    with pytest.raises(redis_lib.ConnectionError):  # errors.policy_for: a temporary fault
        wire.send(client, [("PING",)])
    client.close()


# Counts its runs, then keeps the server busy for 0.3 s (TIME moves in a script since Redis 7).
SLOW = wire.Call(
    """
    redis.call('INCR', KEYS[1])
    local start = redis.call('TIME')
    local now = start
    while (now[1] - start[1]) * 1000000 + (now[2] - start[2]) < 300000 do
      now = redis.call('TIME')
    end
    return 1
    """,
    ["wire:runs"],
)


def test_a_reply_lost_after_the_send_raises_and_nothing_is_sent_again(
    redis_client: redis_lib.Redis, redis_url: str
) -> None:
    # Arrange: a client that gives up on a reply after 50 ms (redis-py would send again).
    impatient = redis_lib.Redis.from_url(redis_url, socket_timeout=0.05)

    # Act: the script outlasts the timeout.
    with pytest.raises(redis_lib.TimeoutError):
        wire.run_one(impatient, SLOW)

    # Assert: it ran once (GET waits for the script to end): a fenced commit or a lock take
    # sent twice would not be the same as once.
    assert redis_client.get("wire:runs") == "1"
    assert wire.run_one(redis_client, wire.Call("return 7", [])) == 7
    impatient.close()


def test_each_thread_sends_on_its_own_connection_and_keeps_it(
    redis_client: redis_lib.Redis,
) -> None:
    import threading

    def client_id() -> int:
        return int(wire.send(redis_client, [("CLIENT", "ID")])[0])

    mine = client_id()
    theirs: list[int] = []
    other = threading.Thread(target=lambda: theirs.extend([client_id(), client_id()]))
    other.start()
    other.join()

    assert client_id() == mine  # kept between round trips
    assert theirs[0] == theirs[1] != mine  # the other thread's own, kept too


def test_a_reply_left_unread_is_never_taken_for_the_next_commands_reply(
    redis_client: redis_lib.Redis,
) -> None:
    # A stray reply on the connection (what a half-finished exchange would leave) is seen
    # before the next send, which then goes on a new connection.
    conn = wire._line(redis_client)
    conn.send_packed_command([b"*2\r\n$4\r\nECHO\r\n$5\r\nstray\r\n"], check_health=False)
    assert conn.can_read(timeout=5)  # the stray reply has arrived, unread

    assert wire.send(redis_client, [("ECHO", "mine")]) == ["mine"]


def test_a_socket_that_cannot_be_asked_counts_as_closed() -> None:
    import socket

    gone = socket.socket()
    gone.close()  # fileno -1: poll refuses it; a TLS socket's check fails the same way

    assert wire._closed_or_unread(gone)


def test_close_closes_the_connections_kept_for_a_client(redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    kept = wire._line(client)
    assert kept._sock is not None

    wire.close(client)

    assert kept._sock is None
    assert wire.send(client, [("PING",)]) == [b"PONG"]  # a new one when used again
    wire.close(client)
    client.close()
