"""Batch rendering: many sessions on a local process pool or on a Ray cluster.

Both paths run the same :func:`render_one`, so a session renders identically
wherever it lands. Failures are reported per session and never stop the batch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from core.hookspecs import hookimpl

NEURAL = {"vocoder"}  # processors that want a GPU when the cluster has one


def render_one(session_path: str, output: str | None = None, plugins_toml: str | None = None) -> dict[str, Any]:
    """Render one session file; return a result dict (``ok`` False with ``error`` on failure)."""
    from core.errors import MixbridgeError
    from core.host import PluginHost
    from core.render import render
    from core.session import Session

    t0 = time.perf_counter()
    base = {"session": session_path, "host": os.uname().nodename, "pid": os.getpid()}
    try:
        session = Session.load(session_path)
        out = Path(output) if output else session.resolve(session.output_path)
        host = PluginHost.from_toml(plugins_toml)
        session.inline_chains(host.config.chains)  # the settings recorded are the ones that ran
        result = render(session, host, output=out)
    except MixbridgeError as e:
        return {**base, "ok": False, "error": f"{type(e).__name__}: {e}", "seconds": time.perf_counter() - t0}
    loud = result.report["loudness"]["after"]
    return {
        **base, "ok": True, "output": str(out), "report": result.report["report"],
        "integrated_lufs": loud["integrated_lufs"], "true_peak_dbtp": loud["true_peak_dbtp"],
        "duration_s": result.report["duration_s"], "seconds": time.perf_counter() - t0,
        "genre": session.genre, "settings": session.settings(),
    }


def record_result(memory: Any, res: dict[str, Any], user: str | None) -> None:
    """Record a rendered session in memory (in the calling process, wherever it rendered); fill ``render_id``.

    The render's JSON report gets the id too, so it can be rated from the file.
    """
    import json

    from app.records import record_render
    from core import files

    if not res.get("ok"):
        return
    report = json.loads(Path(res["report"]).read_text())
    res["render_id"] = record_render(memory, report, res.pop("settings"), user=user, genre=res.get("genre"),
                                     audio=res["output"])
    files.write_text(res["report"], json.dumps(report, indent=2, default=float) + "\n")


def _outputs(paths: Sequence[str], out_dir: str | None) -> list[str | None]:
    if out_dir is None:
        return [None] * len(paths)
    names = [Path(p).stem for p in paths]
    dup = {n for n in names if names.count(n) > 1}
    return [
        str(Path(out_dir) / (f"{Path(p).parent.name}-{n}.wav" if n in dup else f"{n}.wav"))
        for p, n in zip(paths, names, strict=True)
    ]


def wants_gpu(session_path: str) -> bool:
    """True if the session uses a neural (vocoder) stage."""
    from core.host import PluginsConfig
    from core.session import Session
    from core.settings import plugins_toml

    try:
        s = Session.load(session_path)
        chains = PluginsConfig.load(plugins_toml()).chains
    except Exception:  # noqa: BLE001 - a broken session is reported by render_one itself
        return False
    slots = [sp for t in s.tracks for sp in (chains.get(t.chain, []) if t.chain else t.processors)]
    return any(sp.get("plugin") in NEURAL for sp in slots)


def render_batch(
    sessions: Sequence[str | Path],
    workers: int | None = None,
    ray_address: str | None = None,
    out_dir: str | Path | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Render every session; results come back in input order.

    Examples
    --------
    >>> render_batch(["a/session.toml", "b/session.toml"], workers=2)   # doctest: +SKIP
    """
    from core.settings import plugins_toml

    paths = [str(Path(s).resolve()) for s in sessions]
    outs = _outputs(paths, str(out_dir) if out_dir else None)
    toml = str(plugins_toml().resolve())
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any] | None] = [None] * len(paths)
    if ray_address:
        return _ray_batch(paths, outs, toml, ray_address, on_result)
    n = workers or min(len(paths), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(render_one, p, o, toml): i for i, (p, o) in enumerate(zip(paths, outs, strict=True))}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - a crashed worker is one failed session
                res = {"session": paths[i], "ok": False, "error": f"worker failed: {type(e).__name__}: {e}"}
            results[i] = res
            if on_result:
                on_result(res)
    return [r for r in results if r is not None]


def _ray_batch(
    paths: list[str], outs: list[str | None], toml: str, address: str,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    from core.errors import MixbridgeError

    try:
        import ray
    except ImportError:
        raise MixbridgeError("--ray needs the cluster extra: pip install 'mixbridge[cluster]'") from None
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = "no running Ray cluster found" if address == "auto" else f"cannot reach the Ray cluster at {address}"
        raise MixbridgeError(f"--ray {address}: {where} ({str(e).strip().splitlines()[0][:160]}); "
                             "start one with `ray start --head` or leave --ray out for the local pool") from None
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(render_one)
        refs = [
            task.options(num_gpus=1 if has_gpu and wants_gpu(p) else 0, max_retries=1).remote(p, o, toml)
            for p, o in zip(paths, outs, strict=True)
        ]
        results = []
        for p, ref in zip(paths, refs, strict=True):
            try:
                res = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a lost node or crashed task fails one session
                res = {"session": p, "ok": False, "error": f"ray task failed: {type(e).__name__}: {e}"}
            results.append(res)
            if on_result:
                on_result(res)
        return results
    finally:
        ray.shutdown()


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("render-batch", help="render many sessions on a process pool or a Ray cluster")
    p.add_argument("sessions", nargs="+", help="session TOML files")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster (e.g. 127.0.0.1:6379 or auto)")
    p.add_argument("--out-dir", help="write every output here (default: each session's [output] path)")
    p.add_argument("--user", help="whose renders these are, to rate (default MIXBRIDGE_USER)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_render_batch)


def cmd_render_batch(args: Any) -> int:
    import json
    import sys

    from app.loading import load_host
    from app.records import open_memory

    memory = open_memory(load_host())

    def show(r: dict[str, Any]) -> None:
        record_result(memory, r, args.user)
        if args.json:
            return
        if r["ok"]:
            rid = f", render id {r['render_id']}" if r.get("render_id") else ""
            print(f"ok    {r['session']} -> {r['output']} ({r['integrated_lufs']:.1f} LUFS, {r['seconds']:.1f} s{rid})")
        else:
            print(f"FAIL  {r['session']}: {r['error']}", file=sys.stderr)

    from core.progress import progress_bar

    with progress_bar("render-batch", total=len(args.sessions)) as bar:

        def done(r: dict[str, Any]) -> None:
            show(r)
            bar.advance(1.0, f"render-batch: {Path(r['session']).name}")

        results = render_batch(args.sessions, args.workers, args.ray, args.out_dir, on_result=done)
    failed = sum(not r["ok"] for r in results)
    if args.json:
        print(json.dumps(results, indent=2, default=float))
    else:
        print(f"{len(results) - failed} rendered, {failed} failed")
    return 1 if failed else 0
