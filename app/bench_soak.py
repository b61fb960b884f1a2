"""``mixbridge bench soak``: a bounded attack on a local HTTP server, and what held.

Starts ``mixbridge serve``'s app in a fresh process on 127.0.0.1 (a random port,
a temporary media root with two users), then tries, as an attacker and as a clumsy
client would: oversized bodies (declared and streamed), hostile JSON (NaN, 1e999,
a 100 KB comment, a 10 KB key), 5,000-character paths, malformed audio files,
another user's files, forged tokens, a flood of bad requests from several threads
with a valid request timed among them, and, where a PostgreSQL server of its own
can be started (root and /usr/lib/postgresql), the database killed mid-feedback.
Reports per attack: requests, status codes, whether it held; and the server's peak
memory. Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parent.parent
SR = 48000
V = "/api/v1/enhancement"
SECRET = "soak-" + "0123456789abcdef" * 3


class ThrowawayPostgres:
    """A PostgreSQL server of our own (initdb in a temporary folder) that can be killed and restarted."""

    def __init__(self, folder: Path, port: int) -> None:
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.folder, self.port = folder, port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    @staticmethod
    def possible() -> bool:
        return os.geteuid() == 0 and bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) and bool(
            shutil.which("runuser"))

    def _pg(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        shutil.chown(self.folder, "postgres")
        self._pg(str(self.bin / "initdb"), "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                 "--no-sync")

    def start(self) -> None:
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w",
                 "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        """Stop at once (mode immediate: what a crash looks like to clients)."""
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="mixbridge-pg-"))
    folder.chmod(0o755)  # the postgres user must enter it
    pg = ThrowawayPostgres(folder, free_port())
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def serve(media: str, port: int, db_url: str, work: str) -> None:
    """The server process: the HTTP API over ``media``, its memory journaled (what ``mixbridge serve`` runs)."""
    import uvicorn

    from app.song import Services
    from bridge.api import create_app
    from core.settings import EnhancementSettings
    from memory.journal import Journal, JournaledMemory
    from memory.service import MemoryService

    settings = EnhancementSettings(enable_neural_vocoder=False, enable_quality_tracking=False)
    memory = JournaledMemory(lambda: MemoryService(url=db_url, chroma_path=Path(work) / "chroma", settings=settings),
                             Journal(Path(work) / "journal.jsonl"))
    memory.replay_every(1.0)
    app = create_app(Services(media, memory=memory, settings=settings), secret=SECRET)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="critical")


def write_media(root: Path) -> None:
    import numpy as np
    import soundfile as sf

    t = np.arange(SR) / SR
    for user in ("alice", "bob"):
        (root / user).mkdir(parents=True)
        sf.write(str(root / user / "vocals.wav"), 0.3 * np.sin(2 * np.pi * 220 * t), SR, subtype="FLOAT")
        sf.write(str(root / user / "music.wav"), np.stack([0.2 * np.sin(2 * np.pi * 110 * t)] * 2).T, SR,
                 subtype="FLOAT")
    good = (root / "alice" / "vocals.wav").read_bytes()
    header = (b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 0, SR, 0, 0, 16)
              + b"data" + struct.pack("<I", 0))
    bad = {"truncated": good[:50], "wrong_header": b"RIFX" + good[4:], "text": b"not audio\n" * 100, "empty": b"",
           "zero_channels": header}
    for name, data in bad.items():
        (root / "alice" / f"{name}.wav").write_bytes(data)
    x = np.zeros(SR, np.float32)
    x[10] = np.nan
    sf.write(str(root / "alice" / "nan.wav"), x, SR, subtype="FLOAT")
    sf.write(str(root / "alice" / "one.wav"), np.array([0.1], np.float32), SR, subtype="FLOAT")
    sf.write(str(root / "alice" / "short.wav"), np.full(1000, 0.1, np.float32), SR, subtype="FLOAT")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Soak:
    """Runs attacks against ``base`` and keeps, per attack, the status codes seen and whether it held."""

    def __init__(self, base: str, pid: int) -> None:
        import httpx

        from bridge.auth import issue_token

        self.base, self.pid = base, pid
        self.http = httpx.Client(base_url=base, timeout=60)
        self.token = {u: {"Authorization": f"Bearer {issue_token(u, key=SECRET)}"} for u in ("alice", "bob")}
        self.results: list[dict[str, Any]] = []

    def attack(self, name: str, requests: list[Callable[[], Any]], ok: Callable[[Any], bool]) -> None:
        codes: Counter[int] = Counter()
        held = True
        t0 = time.perf_counter()
        for send in requests:
            try:
                r = send()
                codes[r.status_code] += 1
                held &= bool(ok(r))
            except Exception:  # noqa: BLE001 - a dropped connection is a result too (code -1)
                codes[-1] += 1
                held = False
        self.results.append({"attack": name, "requests": len(requests), "codes": dict(sorted(codes.items())),
                             "held": held, "seconds": round(time.perf_counter() - t0, 2),
                             "server_peak_rss_mb": round(peak_rss_mb(self.pid), 1)})

    def post(self, path: str, user: str = "alice", headers: dict[str, str] | None = None,
             **kw: Any) -> Callable[[], Any]:
        h = {**self.token[user], **(headers or {})}
        return lambda: self.http.post(f"{V}/{path}", headers=h, **kw)

    def streamed(self, megabytes: int) -> Any:
        """A chunked upload of ``megabytes`` MB over a raw socket; the server should answer 413 long before the end."""
        host, port = self.base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(f"POST {V}/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Authorization: {self.token['alice']['Authorization']}\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n".encode())
            chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
            sent = 0
            with contextlib.suppress(OSError):
                for _ in range(megabytes):
                    s.sendall(chunk)
                    sent += 1
            try:
                status = int(s.recv(4096).split(b" ", 2)[1])
            except (OSError, IndexError, ValueError):
                status = -1
        return type("Streamed", (), {"status_code": status, "sent_mb": sent})()


def run_soak(flood: int = 200, threads: int = 8, outage_ratings: int = 30) -> dict[str, Any]:
    """Start a server, attack it, stop it; returns every attack's outcome and the server's peak memory."""
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mixbridge-soak-")))
        pg = stack.enter_context(throwaway_postgres()) if ThrowawayPostgres.possible() else None
        db_url = pg.url if pg else f"sqlite:///{work / 'memory.db'}"
        media = work / "media"
        write_media(media)
        port = free_port()
        env = {**os.environ, "MIXBRIDGE_DATA_DIR": str(work / "data"), "MIXBRIDGE_JWT_SECRET": SECRET}
        server = subprocess.Popen([sys.executable, "-c", f"from app.bench_soak import serve; "
                                   f"serve({str(media)!r}, {port}, {db_url!r}, {str(work)!r})"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stack.callback(server.kill)
        for _ in range(600):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if server.poll() is not None:
                raise RuntimeError(f"the server did not start: {server.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        soak = Soak(f"http://127.0.0.1:{port}", server.pid)
        soak.results.append({"attack": "idle server", "server_peak_rss_mb": round(peak_rss_mb(server.pid), 1)})
        _attacks(soak, flood, threads)
        if pg is not None:
            _outage(soak, pg, outage_ratings)
        else:
            soak.results.append({"attack": "database killed mid-feedback", "skipped": "needs root and PostgreSQL"})
        return {"server": soak.base, "database": "throwaway PostgreSQL" if pg else "SQLite",
                "results": soak.results, "held": all(r.get("held", True) for r in soak.results)}


def _attacks(soak: Soak, flood: int, threads: int) -> None:
    import jwt

    big = json.dumps({"render_id": "r", "overall": 3, "comment": "x" * (2 << 20)})
    soak.attack("2 MiB bodies", [soak.post("feedback", content=big, headers={"content-type": "application/json"})] * 5,
                lambda r: r.status_code == 413)
    streamed: list[Any] = []
    soak.attack("streamed 64 MB body", [lambda: streamed.append(soak.streamed(64)) or streamed[-1]],
                lambda r: r.status_code == 413)
    soak.results[-1]["mb_sent_before_the_answer"] = streamed[-1].sent_mb if streamed else None
    hostile = ['{"render_id": "r", "overall": NaN}', '{"render_id": "r", "overall": 1e999}',
               '{"render_id": "r", "overall": Infinity}',
               '{"render_id": "r", "overall": 3, "comment": "%s"}' % ("ECHO" * 25000),
               '{"render_id": "r", "overall": 3, "%s": 1}' % ("K" * 10000), '{"render_id": ', "[]", "null"]
    soak.attack("hostile JSON", [soak.post("feedback", content=b, headers={"content-type": "application/json"})
                                 for b in hostile],
                lambda r: r.status_code == 422 and len(r.content) < 1500 and "ECHO" not in r.text)
    soak.attack("5,000-character paths", [soak.post("voice", json={"audio_path": "alice/" + "a" * 5000}),
                                          soak.post("voice", json={"audio_path": "alice/" + "b/" * 2500})],
                lambda r: r.status_code == 400)
    names = ["truncated", "wrong_header", "text", "empty", "zero_channels", "nan", "one", "short"]
    soak.attack("malformed audio", [soak.post("voice", json={"audio_path": f"alice/{n}.wav"}) for n in names]
                + [soak.post("mixing", json={"vocals_path": f"alice/{n}.wav", "music_path": "alice/music.wav"})
                   for n in names], lambda r: r.status_code == 422)
    soak.attack("another user's files", [
        soak.post("voice", json={"audio_path": "bob/vocals.wav"}),
        soak.post("mixing", json={"vocals_path": "alice/vocals.wav", "music_path": "bob/music.wav"}),
        soak.post("voice", user="bob", json={"audio_path": "alice/vocals.wav"})], lambda r: r.status_code == 403)
    forged = [jwt.encode({"sub": s, "iss": "mixbridge", "exp": int(time.time()) + 60}, k, algorithm="HS256")
              for s, k in (("", SECRET), ("../bob", SECRET), ("alice", "another-key-0123456789abcdef-0123"))]
    soak.attack("forged tokens", [lambda t=t: soak.http.post(f"{V}/voice", json={"audio_path": "alice/vocals.wav"},
                                                             headers={"Authorization": f"Bearer {t}"})
                                  for t in forged], lambda r: r.status_code == 401)
    _flood(soak, flood, threads)


def _flood(soak: Soak, n: int, threads: int) -> None:
    """``n`` bad requests from ``threads`` clients at once, with a valid /voice timed in the middle."""
    import httpx

    codes: Counter[int] = Counter()
    lock = threading.Lock()
    bodies = [b'{"render_id": "r", "overall": NaN}', b'{"audio_path": "../etc/passwd"}', b"x" * 1000]

    def client(k: int) -> None:
        with httpx.Client(base_url=soak.base, timeout=60) as c:
            for i in range(k, n, threads):
                path = f"{V}/feedback" if i % 3 == 0 else f"{V}/voice"
                try:
                    code = c.post(path, content=bodies[i % 3], headers={**soak.token["alice"],
                                                                       "content-type": "application/json"}).status_code
                except httpx.HTTPError:
                    code = -1
                with lock:
                    codes[code] += 1

    t_warm = time.perf_counter()
    warm = soak.post("voice", json={"audio_path": "alice/vocals.wav", "enable_neural_vocoder": False})()
    warm_s = time.perf_counter() - t_warm  # the first /voice loads the voice stage and compiles its kernels
    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    t1 = time.perf_counter()
    valid = soak.post("voice", json={"audio_path": "alice/vocals.wav", "enable_neural_vocoder": False})()
    valid_s = time.perf_counter() - t1
    for w in workers:
        w.join()
    total = time.perf_counter() - t0
    soak.results.append({"attack": f"flood of {n} bad requests, {threads} clients", "requests": n,
                         "codes": dict(sorted(codes.items())), "requests_per_s": round(n / total, 1),
                         "first_voice": {"status": warm.status_code, "seconds": round(warm_s, 2)},
                         "valid_voice_during_flood": {"status": valid.status_code, "seconds": round(valid_s, 2)},
                         "held": warm.status_code == valid.status_code == 200 and all(400 <= c < 500 for c in codes),
                         "server_peak_rss_mb": round(peak_rss_mb(soak.pid), 1)})


def _outage(soak: Soak, pg: ThrowawayPostgres, n: int) -> None:
    """``n`` ratings while the database is killed after a third and restarted after two thirds; count rows."""
    from sqlalchemy import create_engine, func, select

    from memory.models import MixingFeedback

    mix = soak.post("voice", json={"audio_path": "alice/vocals.wav", "enable_neural_vocoder": False})()
    render = mix.json()["render_id"]
    codes: Counter[int] = Counter()
    for i in range(n):
        if i == n // 3:
            pg.stop()
        if i == 2 * n // 3:
            pg.start()
        codes[soak.post("feedback", json={"render_id": render, "overall": 1 + i % 5})().status_code] += 1
    eng = create_engine(pg.url)
    stored = 0
    for _ in range(100):  # the server replays its journal within a second or two
        with eng.connect() as c:
            stored = int(c.scalar(select(func.count()).select_from(MixingFeedback)
                                  .where(MixingFeedback.render_id == render)) or 0)
        if stored >= n:
            break
        time.sleep(0.1)
    eng.dispose()
    soak.results.append({"attack": "database killed mid-feedback", "requests": n, "codes": dict(sorted(codes.items())),
                         "ratings_stored": stored, "held": stored == n and set(codes) <= {200, 202},
                         "server_peak_rss_mb": round(peak_rss_mb(soak.pid), 1)})


def format_results(rep: dict[str, Any]) -> str:
    lines = [f"soak against {rep['server']} ({rep['database']})"]
    for r in rep["results"]:
        if "skipped" in r:
            lines.append(f"  {r['attack']:<40} skipped: {r['skipped']}")
            continue
        extra = {k: v for k, v in r.items() if k not in ("attack", "held", "server_peak_rss_mb")}
        mark = "" if "held" not in r else ("held  " if r["held"] else "FAILED")
        lines.append(f"  {mark:<6} {r['attack']:<40} peak RSS {r['server_peak_rss_mb']:7.1f} MB  "
                     + json.dumps(extra))
    lines.append("everything held" if rep["held"] else "SOMETHING DID NOT HOLD")
    return "\n".join(lines)


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = bench.add_parser("soak", help="attack a local HTTP server (bounded) and report what held",
                         description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--flood", type=int, default=200, help="bad requests in the flood (default 200)")
    p.add_argument("--threads", type=int, default=8, help="flooding clients (default 8)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_bench_soak)


def cmd_bench_soak(args: argparse.Namespace) -> int:
    rep = run_soak(flood=max(1, min(args.flood, 10_000)), threads=max(1, min(args.threads, 64)))
    print(json.dumps(rep, indent=2) if args.json else format_results(rep))
    return 0 if rep["held"] else 1
