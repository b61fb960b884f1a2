"""The complete song pipeline and the services behind the HTTP API.

``generate_complete_song_with_enhancement`` runs every stage the reference design
names (vocals, voice enhancement, music, recommendations, mixing and mastering,
preview, quality metrics, memory) under the EnhancementSettings switches. With
FALLBACK_ON_ERROR a failing optional stage is skipped with a warning; the vocals,
music and mix stages are required.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.bench_chain import rss_mb
from app.records import open_memory, record_render
from core import audio_io, files, genres
from core.errors import AudioFileError, MemoryUnavailableError, MixbridgeError, PermissionDeniedError
from core.host import PluginHost
from core.settings import EnhancementSettings, data_dir

log = logging.getLogger(__name__)
MIN_VOICE_S = 0.1  # the vocoders' analysis windows need more than ~1,100 samples at 48 kHz
PREVIEW_S = 30.0
METRICS_S = 30.0
FADE_S = 1.5


SONG_STAGES = 8  # vocals, voice, music, recommendations, mix, preview, metrics, memory
Progress = Callable[[str, float], None]  # (what runs now, share of the whole done)


class Stages:
    """Runs named stages, timing each; optional ones fall back with a warning."""

    def __init__(self, settings: EnhancementSettings, audio_seconds: float, total: int = SONG_STAGES,
                 on_progress: Progress | None = None) -> None:
        self.settings = settings
        self.audio_seconds = audio_seconds
        self.report: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.applied: list[str] = []
        self.total = total
        self.on_progress = on_progress

    def share(self, name: str) -> Callable[[float], None] | None:
        """A callback for progress inside stage ``name`` (0..1 of that stage), or None when nobody listens."""
        if self.on_progress is None:
            return None
        done, progress = len(self.report), self.on_progress
        return lambda part: progress(name, (done + part) / self.total)

    def run(self, name: str, fn: Callable[[], Any], optional: bool = True, enabled: bool = True) -> Any:
        if self.on_progress is not None:
            self.on_progress(name, len(self.report) / self.total)
        if not enabled:
            self.report.append({"stage": name, "skipped": "disabled by settings"})
            return None
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception as e:
            if not (optional and self.settings.fallback_on_error):
                raise
            msg = f"{name} failed and was skipped: {type(e).__name__}: {e}"
            log.warning("%s", msg)
            self.warnings.append(msg)
            self.report.append({"stage": name, "failed": f"{type(e).__name__}: {e}",
                                "seconds": time.perf_counter() - t0})
            return None
        dt = time.perf_counter() - t0
        cur, peak = rss_mb()
        self.report.append({"stage": name, "seconds": dt,
                            "x_realtime": self.audio_seconds / dt if dt > 0 else None,
                            "rss_mb": round(cur, 1), "peak_rss_mb": round(peak, 1)})
        return result


def loudest(audio: np.ndarray, sr: int, seconds: float) -> slice:
    """The loudest ``seconds`` of ``audio`` (windows stepped by 1 s), as a slice of frames."""
    n = min(int(seconds * sr), audio.shape[-1])
    power = np.cumsum(np.concatenate([[0.0], np.mean(np.atleast_2d(audio).astype(np.float64) ** 2, axis=0)]))
    starts = np.arange(0, audio.shape[-1] - n + 1, sr)
    start = int(starts[np.argmax(power[starts + n] - power[starts])]) if starts.size else 0
    return slice(start, start + n)


def write_preview(audio: np.ndarray, sr: int, path: Path, seconds: float = PREVIEW_S) -> Path:
    """The loudest ``seconds`` of the song, with raised-cosine fades in and out."""
    clip = audio[:, loudest(audio, sr, seconds)].copy()
    n = clip.shape[1]
    f = min(int(FADE_S * sr), n // 2)
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, f))).astype(np.float32)
    clip[:, :f] *= ramp
    clip[:, n - f :] *= ramp[::-1]
    return audio_io.write(path, clip, sr, "24")


def quality_summary(metrics: dict[str, Any] | None) -> dict[str, float | None]:
    """The reference design's ``quality_metrics`` object from calculate_all_metrics' output."""
    m = metrics or {}
    return {"pesq": m.get("pesq_wb"), "stoi": m.get("stoi"),
            "mos": (m.get("dnsmos") or {}).get("ovrl"), "overall": m.get("overall")}


def check_voice_length(audio: np.ndarray, sr: int, what: str) -> None:
    """AudioFileError unless ``audio`` holds at least MIN_VOICE_S seconds (a clear error, not a vocoder crash)."""
    if audio.shape[-1] < MIN_VOICE_S * sr:
        raise AudioFileError(f"{what}: {audio.shape[-1]} samples ({audio.shape[-1] / sr * 1000:.1f} ms) is too short "
                             f"for voice enhancement (at least {MIN_VOICE_S * 1000:.0f} ms)")


def enhance_vocal_file(src: Path, out: Path, settings: EnhancementSettings, key: str | None, host: PluginHost,
                       vocoder: bool | None = None, prosody: bool | None = None,
                       autotune: bool | None = None) -> tuple[Path, dict[str, Any], bool]:
    """Enhance ``src`` into ``out`` through the enhanced-audio cache; returns (path, report, cache hit)."""
    from app.enhanced_cache import EnhancedAudioCache, cache_key

    config: dict[str, Any] = {
        "vocoder": settings.enable_neural_vocoder if vocoder is None else vocoder,
        "prosody": settings.enable_prosody_enhancement if prosody is None else prosody,
        "autotune_key": key if (settings.enable_auto_tune if autotune is None else autotune) else None,
    }
    report: dict[str, Any] = {"config": config}

    def make(dst: Path) -> None:
        audio, sr = audio_io.read(src)
        check_voice_length(audio, sr, "the vocal")
        y, rep = host.service("voice").enhance_voice(audio, sr, vocoder=config["vocoder"], prosody=config["prosody"],
                               autotune_key=config["autotune_key"])
        report.update(rep)
        audio_io.write(dst, y, sr, "float")
        files.write_text(dst.with_suffix(".json"), json.dumps(rep, default=float))

    if settings.enable_caching:
        cache = EnhancedAudioCache(data_dir() / "enhanced-cache")
        key_ = cache_key([src], {"stage": "voice", **config})
        cached, hit = cache.get_or_make(key_, make)
        if hit:
            meta = cached.with_suffix(".json")
            report.update(json.loads(meta.read_text()) if meta.is_file() else {})
        files.copy_file(cached, out)
        return out, report, hit
    make(out)
    return out, report, False


def generate_complete_song_with_enhancement(
    lyrics: str,
    genre: str,
    bpm: float,
    key: str,
    duration: float,
    out_dir: str | Path,
    user: str | None = None,
    settings: EnhancementSettings | None = None,
    host: PluginHost | None = None,
    memory: Any = None,
    sample_rate: int = 48000,
    on_progress: Progress | None = None,
    observe: Callable[[str, str, np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Generate, enhance, mix, master, preview, measure and record one song.

    ``on_progress(stage, share)`` follows the stages; ``observe`` watches the mix's
    render (see ``app.planner.run_mix``).

    Examples
    --------
    >>> rep = generate_complete_song_with_enhancement(open("lyrics.txt").read(), "pop", 96, "A minor", 180,
    ...                                                "out/")   # doctest: +SKIP
    >>> rep["outputs"]["song"]                                   # doctest: +SKIP
    'out/song.wav'
    """
    settings = settings or EnhancementSettings.from_env()
    host = host or PluginHost.from_toml()
    genre = genres.resolve(genre)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    st = Stages(settings, duration, on_progress=on_progress)
    t_start = time.perf_counter()
    hook = host.pm.hook

    def vocals() -> Path:
        v = hook.mixbridge_generate_vocals(lyrics=lyrics, key=key, bpm=bpm, duration=duration,
                                           sample_rate=sample_rate, style="spoken")
        if v is None:
            raise MixbridgeError("no vocal generator plugin answered")
        return audio_io.write(out / "vocals_raw.wav", v, sample_rate, "float")

    raw = st.run("vocals", vocals, optional=False)
    voiced = raw

    voice_report: dict[str, Any] = {}

    def enhance() -> Path:
        path, rep, hit = enhance_vocal_file(raw, out / "vocals_enhanced.wav", settings, key, host)
        voice_report.update(rep, cache_hit=hit)
        st.applied.append("voice_enhancement")
        return path

    voiced = st.run("voice_enhancement", enhance, enabled=settings.enable_voice_enhancement) or raw

    def music() -> Path:
        m = hook.mixbridge_generate_music(genre=genre, key=key, bpm=bpm, duration=duration, sample_rate=sample_rate)
        if m is None:
            raise MixbridgeError("no music generator plugin answered")
        return audio_io.write(out / "music.wav", m, sample_rate, "float")

    music_path = st.run("music", music, optional=False)

    recommendation = st.run(
        "recommendations", lambda: memory.get_mixing_recommendations(user, genre, str(music_path)),
        enabled=settings.enable_memory_learning and memory is not None,
    )

    def mix() -> Any:
        from app.planner import plan_mix, run_mix

        plan = plan_mix(voiced, music_path, host, genre=genre if settings.enable_genre_specific_mixing else None,
                        intelligent=settings.enable_intelligent_mixing, sample_rate=sample_rate,
                        output=out / "song.wav")
        drop_disabled_stages(plan, settings)
        if recommendation:
            recommendation["applied"], recommendation["not_in_session"] = plan.session.apply_settings(
                recommendation.get("config") or {})
        mixed_settings.update(plan.session.settings())
        return run_mix(plan, host, output=out / "song.wav", on_progress=st.share("mix_and_master"), observe=observe)

    mixed_settings: dict[str, Any] = {}
    mixed = st.run("mix_and_master", mix, optional=False)
    st.applied += [a for a in mixed.report.get("enhancement_applied", []) if a not in st.applied]
    st.run("preview", lambda: write_preview(mixed.audio, sample_rate, out / "preview.wav"))

    def metrics() -> dict[str, Any]:
        calculate_all_metrics = host.service("metrics").calculate_all_metrics
        v, sr = audio_io.read(voiced)
        r, _ = audio_io.read(raw, sample_rate=sr)
        span = loudest(r, sr, METRICS_S)  # PESQ, STOI and DNSMOS cost ~1/4 real time: measure a sung excerpt
        m = calculate_all_metrics(v[:, span], sr, reference=r[:, span], spread=True)  # DNSMOS: each second once
        m["excerpt_s"] = [span.start / sr, span.stop / sr]
        return m

    quality = st.run("quality_metrics", metrics, enabled=settings.enable_quality_tracking)
    report: dict[str, Any] = {
        "success": True,
        "song": {"genre": genre, "bpm": bpm, "key": key, "duration_s": duration, "user": user},
        "outputs": {"song": str(out / "song.wav"), "preview": str(out / "preview.wav"),
                    "vocals": str(voiced), "music": str(music_path), "report": str(out / "song.json")},
        "quality_metrics": quality_summary(quality),
        "metrics": quality,
        "enhancement_applied": st.applied,
        "recommendation": recommendation,
        "voice": voice_report,
        "mix": {k: mixed.report[k] for k in ("loudness", "genre", "measurements", "stages")
                if k in mixed.report},
        "stages": st.report,
        "warnings": [*st.warnings, *voice_report.get("warnings", []), *mixed.report.get("warnings", [])],
        "render_id": None,
    }
    st.run("memory", lambda: record_render(memory, report, mixed_settings, user=user, genre=genre,
                                           audio=str(out / "song.wav")),
           enabled=settings.enable_memory_learning and memory is not None)
    elapsed = time.perf_counter() - t_start
    report["seconds"] = elapsed
    report["x_realtime"] = duration / elapsed
    report["peak_rss_mb"] = rss_mb()[1]
    files.write_text(out / "song.json", json.dumps(report, indent=2, default=float) + "\n")
    return report


SWITCHED = {  # processors that a settings switch removes from the mix session
    "enable_frequency_balancing": {"dynamic_eq"},
    "enable_sidechain_compression": {"ducker"},
    "enable_stereo_imaging": {"stereo_width"},
}
APPLIED_AS = {"dynamic_eq": "unmasking_eq:", "ducker": "sidechain_ducking:"}  # how plan_mix reports them


def drop_disabled_stages(plan: Any, settings: EnhancementSettings) -> None:
    """Remove the slots whose EnhancementSettings switch is off, and their ``enhancement_applied`` entries."""
    off = set().union(*(procs for flag, procs in SWITCHED.items() if not getattr(settings, flag)))
    if not off:
        return
    session = plan.session
    for t in [*session.tracks, session.master]:
        t.processors = [p for p in t.processors if p["plugin"] not in off]
    names = tuple(f"{where}:{p}" for p in off for where in ("vocal", "master")) + tuple(
        APPLIED_AS[p] for p in off if p in APPLIED_AS)
    plan.enhancement_applied[:] = [a for a in plan.enhancement_applied if not a.startswith(names)]


def unique_output(src: Path, kind: str) -> Path:
    """``<stem>_<kind>_<short id>.wav`` beside ``src``: no request ever overwrites another's output."""
    return src.with_name(f"{src.stem}_{kind}_{uuid.uuid4().hex[:10]}.wav")


def clean_media(root: Path) -> int:
    """Remove the ``.part`` files writers killed mid-write left under the media root and in the cache."""
    removed = files.clean_parts(data_dir() / "enhanced-cache")
    for folder, _, _ in os.walk(root):
        removed += files.clean_parts(folder)
    return removed


class Services:
    """What the HTTP API does, over a media root of per-user folders; the memory service is optional.

    A user reads and writes only in ``<media root>/<user>/``; every output gets a
    name of its own. ``.part`` files a killed writer left are removed at start.

    Examples
    --------
    >>> Services("/srv/media").voice("alice", {"audio_path": "alice/takes/v.wav"})   # doctest: +SKIP
    """

    def __init__(self, media_root: str | Path, memory: Any = None, settings: EnhancementSettings | None = None,
                 host: PluginHost | None = None) -> None:
        self.root = Path(media_root)
        self.settings = settings or EnhancementSettings.from_env()
        self._host = host
        self.memory = memory if memory is not None else (
            open_memory(self.host) if self.settings.enable_memory_learning else None)
        removed = clean_media(self.root)
        if removed:
            log.warning("removed %d unfinished .part file(s) left by an interrupted writer", removed)

    @property
    def host(self) -> PluginHost:
        if self._host is None:
            self._host = PluginHost.from_toml()
        return self._host

    def _resolve(self, user: str, raw: str) -> Path:
        from bridge.media import resolve_media

        return resolve_media(self.root, raw, user=user)

    def _rel(self, p: Path) -> str:
        from bridge.media import relative

        return relative(self.root, p)

    def voice(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        src = self._resolve(user, body["audio_path"])
        out = unique_output(src, "voice")
        path, rep, hit = enhance_vocal_file(
            src, out, self.settings, body.get("target_key"), self.host, vocoder=body["enable_neural_vocoder"],
            prosody=body["enable_prosody"], autotune=body["enable_auto_tune"])
        quality: dict[str, Any] | None = None
        warnings = list(rep.get("warnings", []))
        if self.settings.enable_quality_tracking:
            try:
                y, sr = audio_io.read(path)
                x, _ = audio_io.read(src, sample_rate=sr)
                quality = self.host.service("metrics").calculate_all_metrics(y, sr, reference=x)
            except MixbridgeError as e:
                warnings.append(f"quality metrics skipped: {e}")
        applied = ["voice_enhancement"] + [s["stage"] for s in rep.get("stages", []) if "stage" in s]
        if hit:
            warnings.append("served from the enhanced-audio cache")
        response = {"success": True, "enhanced_audio_path": self._rel(path),
                    "quality_metrics": quality_summary(quality), "enhancement_applied": applied, "warnings": warnings}
        return self._recorded(response, {}, user, None, path)

    def _stored_config(self, user: str, config_id: str) -> dict[str, Any]:
        """The memory's configuration ``config_id``: 404 when missing, 403 when another user's."""
        stored = dict(self._need_memory().get_config(config_id))
        if stored.get("user") not in (None, user):
            raise PermissionDeniedError("that mixing configuration belongs to another user")
        return stored

    def mixing(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        from app.planner import plan_mix, run_mix

        vocals, music = self._resolve(user, body["vocals_path"]), self._resolve(user, body["music_path"])
        stored = self._stored_config(user, body["mixing_config_id"]) if body.get("mixing_config_id") else None
        out = unique_output(vocals, "mix")
        settings = self.settings
        plan = plan_mix(vocals, music, self.host, genre=body.get("genre"),
                        intelligent=settings.enable_intelligent_mixing, output=out)
        flags = EnhancementSettings(**{**vars(settings),
                                       "enable_frequency_balancing": body["enable_frequency_balancing"],
                                       "enable_sidechain_compression": body["enable_sidechain"],
                                       "enable_stereo_imaging": body["enable_stereo_imaging"]})
        drop_disabled_stages(plan, flags)
        notes: list[str] = []
        if stored is not None:
            applied, missing = plan.session.apply_settings(stored.get("config") or {})
            notes.append(f"mixing configuration {stored['id']}: {len(applied)} setting(s) applied"
                         + (f", {len(missing)} not in this session" if missing else ""))
        result = run_mix(plan, self.host, output=out)
        quality = None
        if settings.enable_quality_tracking:
            quality = self.host.service("metrics").calculate_all_metrics(result.audio, result.sample_rate)
        response = {"success": True, "enhanced_audio_path": self._rel(out), "quality_metrics": quality_summary(quality),
                    "enhancement_applied": ["mixing", *(["stored_configuration"] if stored else []),
                                            *result.report.get("enhancement_applied", [])],
                    "warnings": [*notes, *result.report.get("warnings", [])]}
        return self._recorded(response, plan.session.settings(), user, plan.genre, out)

    def _recorded(self, response: dict[str, Any], config: dict[str, Any], user: str, genre: str | None,
                  audio: Path) -> dict[str, Any]:
        """``response`` recorded in memory as a rateable render; its ``render_id`` filled in (None if not)."""
        record_render(self.memory if self.settings.enable_memory_learning else None, response, config,
                      user=user, genre=genre, audio=str(audio))
        return response

    def _need_memory(self) -> Any:
        if self.memory is None:
            raise MemoryUnavailableError("the memory service is not configured for this server")
        return self.memory

    def check_song(self, user: str, song_id: str) -> None:
        self._need_memory().get_song(user, song_id)

    def complete(self, user: str, song_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """The whole enhancement of a stored song: voice, mixing and mastering, metrics, memory."""
        from app.planner import plan_mix, run_mix

        memory = self._need_memory()
        song = memory.get_song(user, song_id)
        vocals, music = self._resolve(user, song["vocals_path"]), self._resolve(user, song["music_path"])
        settings = EnhancementSettings(**{
            **vars(self.settings),
            "enable_voice_enhancement": config["enable_voice_enhancement"],
            "enable_prosody_enhancement": config["enable_prosody_enhancement"],
            "enable_auto_tune": config["enable_auto_tune"],
            "enable_intelligent_mixing": config["enable_intelligent_mixing"],
            "enable_stereo_imaging": config["enable_stereo_imaging"],
            "enable_genre_specific_mixing": config["enable_genre_specific_mixing"],
            "enable_memory_learning": config["enable_memory_learning"],
            "enable_quality_tracking": config["track_quality_metrics"],
        })
        st = Stages(settings, 0.0)
        voiced = vocals
        if settings.enable_voice_enhancement:
            voiced = st.run("voice_enhancement", lambda: enhance_vocal_file(
                vocals, unique_output(vocals, "voice"), settings, None, self.host)[0]) or vocals
            if voiced != vocals:
                st.applied.append("voice_enhancement")
        genre = genres.resolve(song.get("genre") or "neutral")
        rec = None
        if settings.enable_memory_learning:
            rec = st.run("recommendations", lambda: memory.get_mixing_recommendations(user, genre, None))
        out = unique_output(vocals, "song")
        plan = plan_mix(voiced, music, self.host, genre=genre if settings.enable_genre_specific_mixing else None,
                        intelligent=settings.enable_intelligent_mixing, output=out)
        drop_disabled_stages(plan, settings)
        if rec and rec.get("config"):
            rec["applied"], rec["not_in_session"] = plan.session.apply_settings(rec["config"])
        result = run_mix(plan, self.host, output=out)
        st.applied += ["intelligent_mixing" if settings.enable_intelligent_mixing else "mixing",
                       *result.report.get("enhancement_applied", [])]
        quality = None
        if settings.enable_quality_tracking:
            metrics = self.host.service("metrics")
            quality = st.run("quality_metrics", lambda: metrics.calculate_all_metrics(result.audio, result.sample_rate))
        response = {"success": True, "enhanced_audio_path": self._rel(out),
                    "quality_metrics": quality_summary(quality), "enhancement_applied": st.applied,
                    "warnings": [*st.warnings, *result.report.get("warnings", [])]}
        if settings.enable_memory_learning:
            report = {**result.report, "quality_metrics": response["quality_metrics"]}
            response["render_id"] = record_render(memory, report, plan.session.settings(), user=user, genre=genre,
                                                  audio=str(out), song_id=song_id)
        return response

    def feedback(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._need_memory().rate(user=user, **body))

    def recommendations(self, user: str, genre: str, audio_path: str | None) -> dict[str, Any]:
        audio = str(self._resolve(user, audio_path)) if audio_path else None
        return dict(self._need_memory().get_mixing_recommendations(user, genres.resolve(genre), audio))
