"""The SMTP server of the benchmarks, in a process of its own, one of (`SINKS`):

- `pipelining`: aiosmtpd's sink (it accepts and drops every message), offering PIPELINING (RFC 2920) in its EHLO
  reply, as Postfix, Exim and the large mail providers do. aiosmtpd reads each command from its buffer and
  answers in order, so it serves a pipelined group as it is; it only does not say so.
- `plain`: aiosmtpd's sink as it is (one command, then its reply).
- `postfix`: Postfix's `smtp-sink`, the SMTP test server written to measure mail clients (C, one process; it
  offers PIPELINING). Debian: `echo "postfix postfix/main_mailer_type select No configuration" |
  debconf-set-selections && apt-get install --no-install-recommends postfix` (that configures and starts no
  mail server).

Optionally behind a relay that delays every write by a fixed time each way, as a server that far away would.

    from smtp_sink import start_sink, start_relay   # with bench/ on sys.path
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from aiosmtpd.handlers import Sink

HERE = Path(__file__).resolve().parent


class PipeliningSink(Sink):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname  # what aiosmtpd does itself when the handler has no EHLO hook
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


SINKS = ("pipelining", "plain", "postfix")
SINK_NAMES = {
    "pipelining": "aiosmtpd's sink, offering PIPELINING",
    "plain": "aiosmtpd's sink, as it is",
    "postfix": "Postfix's smtp-sink",
}


def start_sink(port: int, kind: str = "pipelining") -> subprocess.Popen[bytes]:
    """The sink `kind` (one of `SINKS`) on 127.0.0.1:`port`."""
    if kind == "postfix":
        program = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        if not Path(program).exists():
            raise SystemExit("--sink postfix needs Postfix's smtp-sink: see bench/smtp_sink.py")
        as_user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        return subprocess.Popen([program, *as_user, f"127.0.0.1:{port}", "256"], stdout=subprocess.DEVNULL)
    handler = "smtp_sink.PipeliningSink" if kind == "pipelining" else "aiosmtpd.handlers.Sink"
    return subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", handler, "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))},
    )


def start_relay(port: int, target: int, delay: float) -> None:
    """Forward 127.0.0.1:`port` to 127.0.0.1:`target`, each write arriving `delay` seconds after it was read (a
    round trip of twice that), in order, from a thread of this process that runs until it exits."""

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await due.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, at - loop.time()))
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        while data := await reader.read(65536):
            due.put_nowait((loop.time() + delay, data))
        due.put_nowait((0.0, b""))
        await delivering

    async def connected(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(forward(client_reader, server_writer), forward(server_reader, client_writer))

    ready = threading.Event()

    async def serve() -> None:
        server = await asyncio.start_server(connected, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
    ready.wait(10)
