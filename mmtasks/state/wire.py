"""The step's round trips to Redis without redis-py's per-command machinery.

A price step makes two round trips (state/take.lua, then the commit with its metrics and the
let-go); most of what a round trip cost in CPU was redis-py around the socket, not the socket:
measured on this machine (redis-py 8.2, hiredis), an EVALSHA of the step's 25 arguments took
~106 us of CPU through `Redis.evalsha` or a pipeline, ~45 us through a pooled `Connection`'s
`send_packed_command` / `read_response` with the command packed by hiredis, ~11 us on a bare
socket. This module is near the last: each thread keeps its own redis-py `Connection`, made
as the client's pool makes one (from the pool's settings: address, credentials, TLS,
database, decoding, and the connect's retry when they name one), outside the pool, and the
per-command layers (command parsing, response callbacks, events, observability hooks) are
skipped. Unlike a redis-py command, nothing is sent twice (`send` says why). It sends Lua
scripts and commands whose replies need no response callback (scripts, PING): the replies
are what the server said, decoded as the client decodes.

A script is sent as EVALSHA of its text's SHA-1; a server that does not know it (started
since, or flushed) answers NOSCRIPT without running it, and such calls are sent again as
EVAL, which loads them (`run`).
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # redis loads with the first store: replay needs none of this
    import redis

Arg = str | bytes | int | float
_SHAS: dict[str, str] = {}


def sha_of(text: str) -> str:
    """Return the SHA-1 Redis names the script text by (EVALSHA), computed once per text."""
    sha = _SHAS.get(text)
    if sha is None:
        sha = _SHAS[text] = hashlib.sha1(text.encode()).hexdigest()
    return sha


@dataclass(frozen=True)
class Call:
    """One Lua script to run: its text, its keys and its arguments."""

    text: str
    keys: Sequence[str]
    args: Sequence[Arg] = ()

    def command(self, verb: str = "EVALSHA") -> tuple[Arg, ...]:
        script = sha_of(self.text) if verb == "EVALSHA" else self.text
        return (verb, script, len(self.keys), *self.keys, *self.args)


def send(client: redis.Redis, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """Send commands in one round trip; return their replies in order, an error reply as its
    exception (redis-py's: ResponseError, NoScriptError...) in its place.

    Sent once, on this thread's own connection to the client's server (`_line`), opened again
    first when the server closed it. A connection error after the send raises and nothing is
    sent again, unlike redis-py's commands: the commands may have run, and a fenced commit or
    a lock take run twice is not the same as run once. The step then degrades and its next try
    reads the state again.
    """
    from hiredis import pack_command  # not on replay's import path, like redis

    pack: Any = pack_command  # its stubs type the command as a 1-tuple
    packed = b"".join(pack(tuple(c)) for c in commands)
    conn = _line(client)
    try:
        conn.send_packed_command([packed], check_health=False)
        return _read(conn, len(commands))
    except BaseException:  # replies may be left unread: the next exchange opens a new one
        conn.disconnect()
        raise


class _Lines:
    """This process's own connections to one pool's server, one per thread (kept on the pool:
    they go with it, and `close` closes them)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.by_thread: dict[int, Any] = {}


_MAKING = threading.Lock()


def _lines(pool: Any) -> _Lines:
    lines: _Lines | None = getattr(pool, "_mmtasks_lines", None)
    if lines is None or lines.pid != os.getpid():  # a forked child makes its own
        with _MAKING:
            lines = getattr(pool, "_mmtasks_lines", None)
            if lines is None or lines.pid != os.getpid():
                lines = _Lines()
                setattr(pool, "_mmtasks_lines", lines)  # noqa: B010 - not a pool attribute
    return lines


def _line(client: redis.Redis) -> Any:
    """Return this thread's connection to client's server, connected and with nothing unread.

    One per thread and pool, kept between round trips: taking one from the pool and giving
    it back cost more CPU than the socket (its lock, its checks and its observability hooks,
    new in redis-py 8). A server that closed the connection (it restarted, or killed the
    client) is seen before anything is sent: the commands then go on a new connection, and
    were sent once all the same.
    """
    pool = client.connection_pool
    lines = _lines(pool)
    me = threading.get_ident()
    conn = lines.by_thread.get(me)
    if conn is None:
        conn = lines.by_thread[me] = pool.connection_class(**pool.connection_kwargs)
    sock = conn._sock
    if sock is None:
        conn.connect()
    elif _closed_or_unread(sock):
        conn.disconnect()
        conn.connect()
    return conn


def _closed_or_unread(sock: socket.socket) -> bool:
    """Return True when the server closed the connection or left something unread on it
    (then, or when the socket cannot even be asked, the caller opens a new one)."""
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():  # decrypted, not yet read
            return True
        readable = select.poll()  # readable: a reply nobody read, or the server's close
        readable.register(sock, select.POLLIN)
        return bool(readable.poll(0))
    except (OSError, ValueError):
        return True


def close(client: redis.Redis) -> None:
    """Close this process's own connections to client's server (`Runtime.close`): the
    client's `close` closes only its pool's."""
    lines: _Lines | None = getattr(client.connection_pool, "_mmtasks_lines", None)
    if lines is not None and lines.pid == os.getpid():
        conns, lines.by_thread = list(lines.by_thread.values()), {}
        for conn in conns:
            conn.disconnect()


def _read(conn: Any, count: int) -> list[Any]:
    from redis.exceptions import ResponseError

    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except ResponseError as exc:  # read whole: the next reply is the next command's
            replies.append(exc)
    return replies


def run(client: redis.Redis, calls: Sequence[Call | Sequence[Arg]]) -> list[Any]:
    """Run scripts (`Call`) and plain commands in one round trip; return their replies as
    `send` does. The scripts the server does not know (NOSCRIPT: it restarted, or its scripts
    were flushed) did not run; they are sent again together as EVAL, in their order, in a
    second round trip (once per server), and their replies put in their places."""
    from redis.exceptions import NoScriptError

    replies = send(client, [c.command() if isinstance(c, Call) else c for c in calls])
    unknown = [
        i
        for i, c in enumerate(calls)
        if isinstance(c, Call) and isinstance(replies[i], NoScriptError)
    ]
    if unknown:
        again = send(client, [cast(Call, calls[i]).command("EVAL") for i in unknown])
        for i, reply in zip(unknown, again, strict=True):
            replies[i] = reply
    return replies


def run_one(client: redis.Redis, call: Call) -> Any:
    """Run one script and return its reply; an error reply raises."""
    reply = run(client, [call])[0]
    if isinstance(reply, Exception):
        raise reply
    return reply
