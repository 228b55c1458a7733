"""A local SMTP sink for the tests: a small asyncio SMTP server (standard library only; `smtpd` is gone from Python
3.12) on a loopback port, in a thread, that accepts every message and records it. Plain SMTP, no TLS, no AUTH:
Keyzone's `smtp://` mode, which is meant for exactly this (a relay on the same host or a test sink).

    with SmtpSink() as sink:
        ... KEYZONE_SMTP_URL=sink.url ...
        msg = sink.wait_for(lambda m: m.to == ["ada@example.com"])
        msg.subject, msg.text
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional


@dataclass
class Received:
    sender: str
    to: List[str]
    subject: str
    text: str
    raw: bytes


class SmtpSink:
    def __init__(self) -> None:
        self.messages: List[Received] = []
        self._lock = threading.RLock()
        self._loop = asyncio.new_event_loop()
        self._server: Optional[asyncio.base_events.Server] = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-sink", daemon=True)
        self.port = 0
        # Answer the next RCPT with this permanent error (to test refusals), then go back to accepting.
        self.refuse_next: Optional[str] = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> "SmtpSink":
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._session, "127.0.0.1", 0), self._loop)
        self._server = fut.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_for(self, pred: Callable[[Received], bool], timeout: float = 15.0) -> Received:
        """The first recorded message matching `pred`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for m in self.messages:
                    if pred(m):
                        return m
            if time.monotonic() > deadline:
                with self._lock:
                    seen = [(m.to, m.subject) for m in self.messages]
                raise AssertionError(f"no matching mail within {timeout}s; the sink has {seen}")
            time.sleep(0.05)

    def to(self, address: str) -> List[Received]:
        with self._lock:
            return [m for m in self.messages if address in m.to]

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(line: str) -> None:
            writer.write((line + "\r\n").encode())

        sender, rcpts = "", []
        reply("220 smtp-sink ready")
        try:
            while True:
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line:
                    return
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    reply("250-smtp-sink")
                    reply("250-8BITMIME")
                    reply("250 SMTPUTF8")
                elif verb == "HELO":
                    reply("250 smtp-sink")
                elif verb == "MAIL":
                    sender, rcpts = cmd.split(":", 1)[1].strip().split(" ")[0].strip("<>"), []
                    reply("250 OK")
                elif verb == "RCPT":
                    if self.refuse_next:
                        reply(self.refuse_next)
                        self.refuse_next = None
                        continue
                    rcpts.append(cmd.split(":", 1)[1].strip().split(" ")[0].strip("<>"))
                    reply("250 OK")
                elif verb == "DATA":
                    reply("354 end with <CRLF>.<CRLF>")
                    await writer.drain()
                    lines = []
                    while True:
                        l = await asyncio.wait_for(reader.readline(), 30)
                        if not l or l in (b".\r\n", b".\n"):
                            break
                        lines.append(l[1:] if l.startswith(b"..") else l)  # RFC 5321 §4.5.2 transparency
                    raw = b"".join(lines)
                    msg = email.message_from_bytes(raw, policy=email.policy.default)
                    body = msg.get_body(("plain",))
                    text = body.get_content() if body is not None else ""
                    with self._lock:
                        self.messages.append(Received(sender, rcpts, str(msg["subject"] or ""), text, raw))
                    reply("250 OK: queued")
                elif verb in ("RSET", "NOOP"):
                    reply("250 OK")
                elif verb == "QUIT":
                    reply("221 bye")
                    await writer.drain()
                    return
                else:
                    reply("502 command not implemented")
        except (asyncio.TimeoutError, ConnectionError):
            return
        finally:
            writer.close()
