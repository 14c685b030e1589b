"""Survey server benchmarks through the real server (``sottovoce serve``, uvicorn, one process).

Throughput: 200 concurrent keep-alive clients on loopback POST valid submissions for a few
seconds. Reported: sustained acknowledged submissions/s, p99 latency, and the ratio to the *raw*
insert-and-commit rate of the same database with the same durability settings (one transaction per
row, as a naive server would do). Targets: ratio >= 0.5 and, with SQLite, >= 500 acknowledged
submissions/s on a 2-core machine.

Wrong-code flood: an invitation-only study; 4 respondents submit with valid codes one after another,
first alone, then while 50 clients send wrong codes at 300 guesses/s in all. Reported: the
respondents' median and p99 latency in both phases. A wrong code is refused from memory before any
write, so a guess costs a little CPU and no disk (issue 11 measured 3 -> 165 ms when each guess
cost a write and an fsync). Target: the respondents' median latency under the flood at most 3x the
quiet one.

Run alone: ``.venv/bin/python bench/bench_field.py`` (prints one JSON row per line). Set
``SOTTOVOCE_BENCH_PG=postgresql://...`` (an empty database) to add the PostgreSQL row.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

CLIENTS = 200
SECONDS = 5.0

STUDY = """
[study]
id = "bench"
title = "Load benchmark"
[[questions]]
id = "d"
type = "direct"
column = "q_support"
options = [{ code = 1, en = "Yes" }, { code = 2, en = "No" }]
yes = [1]
hard_to_say = [99]
refused = [98]
[[questions]]
id = "r"
type = "rr"
design = "forced"
response = "rr_answer"
p = 0.6666666666666666
p1 = 0.16666666666666666
p0 = 0.16666666666666666
"""


def _make() -> tuple[str, bytes]:
    key = secrets.token_urlsafe(18)
    body = {"idempotency_key": key, "answers": {"q_support": 1 + secrets.randbelow(2), "rr_answer": secrets.randbelow(2)}}
    return key, json.dumps(body).encode()


def raw_commit_rate(db: str, seconds: float = 2.0) -> float:
    """Insert-and-commit one sealed-size row per transaction, as fast as the database allows."""
    from sottovoce.field.questionnaire import Questionnaire
    from sottovoce.field.storage import Pending, open_store

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.toml").write_text(STUDY, encoding="utf-8")
        size = Questionnaire.from_file(Path(tmp) / "s.toml").payload_size() + 48  # a sealed submission
    store = open_store(db)
    n, t0 = 0, time.perf_counter()
    blob = secrets.token_bytes(size)
    while time.perf_counter() - t0 < seconds:
        store.submit_batch([Pending(store.hash(secrets.token_hex(16)), blob)])
        n += 1
    rate = n / (time.perf_counter() - t0)
    store.close()
    return rate


def measure(db: str, workdir: Path, clients: int = CLIENTS, seconds: float = SECONDS) -> dict:
    """Serve the benchmark study on ``db`` and load it; returns the figures."""
    from sottovoce.field.crypto import new_keypair
    from sottovoce.field.loadtest import Server, hammer
    from sottovoce.field.storage import open_store

    study = workdir / "study.toml"
    study.write_text(STUDY, encoding="utf-8")
    pub, _ = new_keypair(workdir / f"keys-{secrets.token_hex(4)}")
    store = open_store(db)
    before = store.count()
    store.close()
    server = Server(study, pub, db, workdir / "server.log").start()
    try:
        stats = asyncio.run(hammer("127.0.0.1", server.port, clients=clients, seconds=seconds, make=_make))
    finally:
        server.stop()
    store = open_store(db)
    stored = store.count() - before
    store.close()
    return {"rate": stats.rate, "p99_ms": 1000 * stats.p99(), "acked": len(stats.acked), "stored": stored,
            "errors": stats.errors, "statuses": stats.statuses, "seconds": stats.seconds}


def flood(workdir: Path, seconds: float = 4.0, flooders: int = 50, rate: float = 300.0) -> dict:
    """Respondents' latency with valid codes, alone and under a flood of wrong codes."""
    from sottovoce.field.crypto import new_keypair
    from sottovoce.field.loadtest import Server, hammer

    study = workdir / "study.toml"
    study.write_text(STUDY, encoding="utf-8")
    pub, _ = new_keypair(workdir / f"keys-{secrets.token_hex(4)}")
    codes = [secrets.token_hex(8) for _ in range(20000)]
    (workdir / "codes.txt").write_text("\n".join(codes) + "\n")
    server = Server(study, pub, f"sqlite:///{workdir}/flood.db", workdir / "flood.log",
                    ["--invites", str(workdir / "codes.txt"), "--invite-key", str(workdir / "flood.key")]).start()

    def respondent() -> tuple[str, bytes]:
        key, body = _make()
        obj = json.loads(body)
        obj["invite"] = codes.pop()
        return key, json.dumps(obj).encode()

    def guesser() -> tuple[str, bytes]:
        key, body = _make()
        obj = json.loads(body)
        obj["invite"] = secrets.token_hex(8)
        return key, json.dumps(obj).encode()

    async def both() -> tuple:
        quiet = await hammer("127.0.0.1", server.port, clients=4, seconds=seconds, make=respondent)
        loud, flood_stats = await asyncio.gather(
            hammer("127.0.0.1", server.port, clients=4, seconds=seconds, make=respondent),
            hammer("127.0.0.1", server.port, clients=flooders, seconds=seconds, make=guesser, rate=rate))
        return quiet, loud, flood_stats

    try:
        quiet, loud, flood_stats = asyncio.run(both())
    finally:
        server.stop()

    def median(lat: list[float]) -> float:
        return sorted(lat)[len(lat) // 2] * 1000 if lat else float("nan")

    return {"quiet_p50_ms": median(quiet.latencies), "quiet_p99_ms": 1000 * quiet.p99(),
            "flood_p50_ms": median(loud.latencies), "flood_p99_ms": 1000 * loud.p99(),
            "wrong_codes_per_s": flood_stats.statuses.get(403, 0) / flood_stats.seconds,
            "acked_quiet": len(quiet.acked), "acked_flood": len(loud.acked), "seconds": quiet.seconds + loud.seconds}


def run() -> list[dict]:
    """Rows for bench/run.py: name, seconds, ratio, target, ok (plus the measured figures)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="sv-bench-field-") as tmp:
        work = Path(tmp)
        raw = raw_commit_rate(f"sqlite:///{work}/raw.db")
        m = measure(f"sqlite:///{work}/served.db", work)
        ratio = m["rate"] / raw
        rows.append({
            "name": f"serve SQLite FULL {CLIENTS} clients: {m['rate']:.0f} acked/s, p99 {m['p99_ms']:.0f} ms vs raw commit",
            "seconds": m["seconds"], "ratio": ratio, "target": ">= 0.5x, >= 500/s", "ok": ratio >= 0.5 and m["rate"] >= 500,
            "acked_per_s": round(m["rate"], 1), "raw_commits_per_s": round(raw, 1), "p99_ms": round(m["p99_ms"], 1),
            "acked": m["acked"], "stored": m["stored"],
        })
        f = flood(work)
        slow = f["flood_p50_ms"] / f["quiet_p50_ms"]
        rows.append({
            "name": f"wrong-code flood ({f['wrong_codes_per_s']:.0f}/s): respondents p50 {f['quiet_p50_ms']:.1f} -> "
                    f"{f['flood_p50_ms']:.1f} ms, p99 {f['quiet_p99_ms']:.1f} -> {f['flood_p99_ms']:.1f} ms",
            "seconds": f["seconds"], "ratio": slow, "target": "<= 3x slower", "ok": slow <= 3,
            **{k: round(v, 1) for k, v in f.items() if k != "seconds"},
        })
        pg = os.environ.get("SOTTOVOCE_BENCH_PG")  # e.g. postgresql://user:pw@127.0.0.1/empty_db
        if pg:
            raw = raw_commit_rate(pg)
            m = measure(pg, work)
            ratio = m["rate"] / raw
            rows.append({
                "name": f"serve PostgreSQL {CLIENTS} clients: {m['rate']:.0f} acked/s, p99 {m['p99_ms']:.0f} ms vs raw commit",
                "seconds": m["seconds"], "ratio": ratio, "target": ">= 0.5x", "ok": ratio >= 0.5,
                "acked_per_s": round(m["rate"], 1), "raw_commits_per_s": round(raw, 1), "p99_ms": round(m["p99_ms"], 1),
                "acked": m["acked"], "stored": m["stored"],
            })
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
