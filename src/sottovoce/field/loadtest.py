"""A small loopback load generator for the survey server (used by the crash test and the benchmark).

Raw HTTP/1.1 keep-alive connections on asyncio, so the client costs little CPU and the
measurement is about the server. It only ever connects to a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LoadStats", "hammer", "Server", "free_port"]


@dataclass
class LoadStats:
    """What a load run saw: acknowledged submissions (key -> status), failures and latencies."""

    acked: dict[str, str] = field(default_factory=dict)
    attempted: list[str] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.acked) / self.seconds if self.seconds else 0.0

    def p99(self) -> float:
        if not self.latencies:
            return float("nan")
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(0.99 * len(lat)))]


async def _client(host: str, port: int, stop: Callable[[], bool], make: Callable[[], tuple[str, bytes]],
                  stats: LoadStats, local_addr: str | None, interval: float = 0.0) -> None:
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(local_addr, 0) if local_addr else None)
        while not stop():
            key, body = make()
            stats.attempted.append(key)
            head = (f"POST /api/submissions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            t0 = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = await reader.readexactly(length)
            took = time.perf_counter() - t0
            stats.latencies.append(took)
            if interval > took:  # paced: an open-loop rate, whatever the server's speed
                await asyncio.sleep(interval - took)
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if status in (200, 201):
                stats.acked[key] = json.loads(payload)["status"]
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        stats.errors += 1  # the server went away mid-request: that submission is unacknowledged
    finally:
        if writer is not None:
            writer.close()


async def hammer(url_host: str, port: int, *, clients: int, seconds: float, make: Callable[[], tuple[str, bytes]],
                 local_addr: str | None = None, max_requests: int | None = None, stats: LoadStats | None = None,
                 until: Callable[[], bool] | None = None, rate: float | None = None) -> LoadStats:
    """Run ``clients`` concurrent keep-alive clients for ``seconds`` (or ``max_requests`` in all, or ``until()``).

    With ``rate``, the clients together send at most that many requests per second.
    Pass ``stats`` to watch the run from another task while it goes on.
    """
    if not ipaddress.ip_address(url_host).is_loopback:
        raise ValueError("the load generator only targets loopback addresses")
    stats = stats if stats is not None else LoadStats()
    t0 = time.monotonic()

    def stop() -> bool:
        return (time.monotonic() - t0 > seconds or (max_requests is not None and len(stats.attempted) >= max_requests)
                or (until is not None and until()))

    interval = clients / rate if rate else 0.0
    await asyncio.gather(*(_client(url_host, port, stop, make, stats, local_addr, interval) for _ in range(clients)))
    stats.seconds = time.monotonic() - t0
    return stats


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``sottovoce serve`` in a subprocess (so it can be killed with SIGKILL), logs to a file."""

    def __init__(self, study: Path, public_key: Path, db: str, log: Path, extra: list[str] | None = None,
                 fork: bool = False, limits: tuple[int, int] | None = None) -> None:
        self.study, self.public_key, self.db, self.fork = study, public_key, db, fork
        self.args = [sys.executable, "-c", "from sottovoce.cli import run; run()", "serve", str(study),
                     "--public-key", str(public_key), "--db", db, *(extra or [])]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.limits = limits  # RLIMIT_NOFILE (soft, hard) for the server process

    def start(self) -> Server:
        self.port = free_port()
        if self.fork:  # a forked child skips the interpreter start-up: fast crash cycles
            self.proc = _ForkedServer(self)  # type: ignore[assignment]
        else:
            fh = open(self.log, "ab")
            self.proc = subprocess.Popen([*self.args, "--port", str(self.port)], stdout=fh, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=self._limit)
            fh.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if _healthy(self.port):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start in 30 s")

    def _limit(self) -> None:
        if self.limits is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, self.limits)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)



def _healthy(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")


class _ForkedServer:
    """``run_server`` in a forked child, with the interface of ``subprocess.Popen`` that Server uses."""

    def __init__(self, server: Server) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._p = ctx.Process(target=_child, args=(server,), daemon=True)
        self._p.start()

    @property
    def pid(self) -> int:
        return int(self._p.pid or 0)

    @property
    def returncode(self) -> int | None:
        return self._p.exitcode

    def poll(self) -> int | None:
        return self._p.exitcode

    def kill(self) -> None:
        self._p.kill()

    def terminate(self) -> None:
        self._p.terminate()

    def wait(self, timeout: float | None = None) -> int | None:
        self._p.join(timeout)
        if self._p.exitcode is None:
            raise subprocess.TimeoutExpired("server", timeout or 0)
        return self._p.exitcode


def _child(server: Server) -> None:
    from ..cli import main

    server._limit()
    fd = os.open(server.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.exit(main([*server.args[3:], "--port", str(server.port)]))
