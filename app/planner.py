"""Song assembly: vocals + music -> a Session (vocal, music and master chains, loudness) -> a mix.

:func:`plan_mix` reads the stems, analyses them and builds the Session (testable
without rendering); :func:`run_mix` renders it with ``core.render.render``,
applies reference matching when asked, and measures before and after.

Intelligent mode: the genre preset (given, or classified from the music) sets
the chains; the analysis retunes them: the music's unmasking bands move to the
bands where the music covers the vocal most, their depth and the ducking depth
grow with the measured masking, the delay syncs to the music's tempo, and the
track gains set the preset's vocal-over-music loudness offset. The planner then
checks its own plan: it mixes the analysis window's loudest 15 s of voice as
the render would and scores the voice's intelligibility (ESTOI against the dry
voice). An unmasking or ducking stage that lowers it is switched off on that
file; while the mix does not beat the plain sum by :data:`ESTOI_MARGIN`, the
single change that helps most is made (vocal offset +1 LU, reverb and delay
wetness halved, ducking or unmasking 2 dB deeper), round by round. ``intelligent =
False`` gives the plain comparison: both stems at equal loudness, summed,
brought to the same loudness target, nothing else.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import audio_io, genres
from core.errors import MixbridgeError, ModelUnavailableError, SessionError
from core.host import PluginHost
from core.session import Loudness, Master, Session, Track

if TYPE_CHECKING:
    from core.render import Observer

STEM_LUFS = -23.0  # stems are gain-staged around EBU R128's level before the sum
MAX_UNMASK_DB = 9.0
MAX_DUCK_DB = 8.0
GAIN_RANGE_DB = (-48.0, 24.0)  # level matching is clamped here (with a warning), never a failure
MASK_WINDOW_S = 60.0  # analysis, gain staging and masking use the middle minute (before and after alike)
CHECK_WINDOW_S = 15.0  # the plan checks itself on the analysis window's 15 s where the voice is loudest
MIN_CHECK_S = 3.0  # shorter than this, ESTOI is too noisy to steer by: no check
ESTOI_MARGIN = 0.02  # the mix must beat the plain sum's ESTOI by this on the check window
MAX_EXTRA_OFFSET_LU = 4.0  # the check may raise the vocal offset by this much over the preset's
MIN_WET = 0.03  # a reverb or delay halved below this is switched off (wet 0)
CHECK_ROUNDS = 8
ESTOI_NOISE = 0.005  # a stage is switched off only when that raises ESTOI by more than this
ESTOI_STEP = 0.002  # a change is made only when it raises ESTOI by more than this


@dataclass
class MixPlan:
    """A built session plus what was decided and measured on the way."""

    session: Session
    genre: str
    genre_source: str  # "given", "classified", "abstained" (classifier unsure), "default" (no model) or "none"
    genre_confidence: float | None
    enhancement_applied: list[str]
    analysis: dict[str, Any]
    stem_lufs: dict[str, float]
    reference: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def _lufs(audio: np.ndarray, sr: int) -> float:
    from core import loudness

    v = float(loudness.integrated_lufs(audio, sr))
    if not math.isfinite(v):
        raise MixbridgeError("a stem is silent (its loudness is -inf LUFS); nothing to mix")
    return v


def genre_presets(host: PluginHost) -> dict[str, dict[str, Any]]:
    """All presets from every plugin answering ``mixbridge_genre_presets`` (later plugins win),
    keyed by canonical genre name (a preset named by an alias counts as its genre)."""
    out: dict[str, dict[str, Any]] = {}
    for part in reversed(host.pm.hook.mixbridge_genre_presets()):
        out.update({genres.resolve(name): preset for name, preset in part.items()})
    return out


def estimate_bpm(music: np.ndarray, sr: int) -> float:
    """Tempo (bpm, 60..180) from 30 s of the music's onset envelope (the middle of the song)."""
    import librosa

    y = music[:, audio_io.middle(music.shape[1], sr, 30.0)].mean(axis=0)
    onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=1024)
    bpm = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=1024))[0])
    return float(np.clip(bpm, 60.0, 180.0))


def _slots(specs: list[dict[str, Any]], host: PluginHost, where: str, warnings: list[str]) -> list[dict[str, Any]]:
    """Deep copies of the preset's slots whose plugins are loaded; the rest become warnings."""
    out = []
    for spec in specs:
        if spec["plugin"] not in host.processors:
            warnings.append(f"{where}: plugin {spec['plugin']!r} is not loaded; its stage is skipped")
            continue
        out.append(copy.deepcopy(spec))
    return out


def _retune_music(slots: list[dict[str, Any]], mask: dict[str, Any], applied: list[str], analysis: Any) -> None:
    """Point the unmasking bands at the most masked bands and scale depths by the masking."""
    worst = [b for b in mask["worst_bands"] if analysis.band_edges(b)[0] >= 150.0][:2]
    for spec in slots:
        p = spec.setdefault("params", {})
        if spec["plugin"] == "dynamic_eq" and p.get("b1_on", "on") != "off":
            for n, band in enumerate(worst, 1):
                lo, hi = analysis.band_edges(band)
                m = mask["bands"][band]["masking_db"]
                p[f"b{n}_freq_hz"] = round(math.sqrt(lo * hi), 1)
                p[f"b{n}_on"] = "on"
                depth = max(abs(float(p.get(f"b{n}_range_db", 3.0))), 0.5 * m)
                p[f"b{n}_range_db"] = -round(min(depth, MAX_UNMASK_DB), 2)
            if worst:
                applied.append("unmasking_eq:" + ",".join(worst))
        if spec["plugin"] == "ducker" and float(p.get("depth_db", 4.0)) > 0.0:
            p["depth_db"] = round(min(float(p.get("depth_db", 4.0)) + 0.25 * mask["overall_db"], MAX_DUCK_DB), 2)
            applied.append(f"sidechain_ducking:{p['depth_db']:g}dB")


def plan_mix(
    vocals: str | Path,
    music: str | Path,
    host: PluginHost,
    genre: str | None = None,
    reference: str | Path | None = None,
    intelligent: bool = True,
    sample_rate: int = 48000,
    output: str | Path = "mix.wav",
    block_size: int = 4096,
) -> MixPlan:
    """Read and analyse the stems and build the mix Session.

    Parameters
    ----------
    vocals, music : path
        Audio files (any rate; mono or stereo). The vocal track keeps its channels.
    genre : str, optional
        A preset name; None classifies the music (intelligent mode only).
    reference : path, optional
        A reference track: the loudness target becomes its loudness and
        :func:`run_mix` matches the mix's spectrum and width to it.
    intelligent : bool
        False: a plain level-matched sum (no chains), for comparison.

    Examples
    --------
    >>> plan = plan_mix("vocals.wav", "music.wav", PluginHost.from_toml(), genre="rock")  # doctest: +SKIP
    >>> [t.name for t in plan.session.tracks]                                           # doctest: +SKIP
    ['vocals', 'music']
    """
    analysis = host.service("analysis")
    voc, _ = audio_io.read(vocals, sample_rate=sample_rate)
    mus, _ = audio_io.read(music, sample_rate=sample_rate)
    if voc.shape[0] > 2 or mus.shape[0] > 2:
        raise SessionError("vocals and music must be mono or stereo")
    # all analysis (loudness, masking, genre, tempo) runs on the middle minute: representative
    # of a song, and it bounds time and memory whatever the song's length
    win = audio_io.middle(min(voc.shape[1], mus.shape[1]), sample_rate, MASK_WINDOW_S)
    voc, mus = voc[:, win].copy(), mus[:, win].copy()  # the rest of the song is not needed here
    lufs = {"vocals": _lufs(voc, sample_rate), "music": _lufs(mus, sample_rate)}
    warnings: list[str] = []
    report: dict[str, Any] = {"before": {"masking": analysis.masking(
        voc * 10 ** ((STEM_LUFS - lufs["vocals"]) / 20),
        mus * 10 ** ((STEM_LUFS - lufs["music"]) / 20), sample_rate)},
        "masking_window_s": [win.start / sample_rate, win.stop / sample_rate]}
    session = Session(name=Path(output).stem, sample_rate=sample_rate, block_size=block_size, tail_s=0.0,
                      output_path=str(output), base_dir=Path.cwd())
    tracks = {"vocals": str(Path(vocals).resolve()), "music": str(Path(music).resolve())}
    ref_info = None
    if reference is not None:
        ref_audio, _ = audio_io.read(reference, sample_rate=sample_rate)
        ref_info = host.service("reference").analyse(ref_audio, sample_rate)
        if not math.isfinite(ref_info["loudness_lufs"]):
            raise MixbridgeError(f"{reference}: the reference is silent")

    if not intelligent:
        session.tracks = [Track(n, p, gain_db=_matched_gain(n, STEM_LUFS - lufs[n], warnings))
                          for n, p in tracks.items()]
        target = ref_info["loudness_lufs"] if ref_info else -14.0
        session.master = Master(loudness=Loudness(True, float(np.clip(target, -70.0, 0.0)), -1.0))
        return MixPlan(session, genre or "none", "none", None, ["level_match", "loudness"], report, lufs,
                       ref_info, warnings)

    applied: list[str] = []
    confidence = None
    if genre is not None:
        genre, source = genres.resolve(genre), "given"
    else:
        try:
            guess = host.service("genre").analyse(mus, sample_rate)
            genre, confidence, source = guess.genre, guess.confidence, "classified"
            if guess.abstained:  # calibrated: below the threshold a guess is too often wrong to act on
                warnings.append(f"genre classifier unsure (most likely {guess.top} at {guess.confidence:.2f}, "
                                f"below {guess.threshold:.2f}); using the neutral preset")
                source = "abstained"
        except ModelUnavailableError as e:
            warnings.append(f"{e}; using the neutral preset")
            genre, source = "neutral", "default"
    presets = genre_presets(host)
    if genre not in presets:
        raise SessionError(f"genre {genre!r} has no mix preset (presets: {', '.join(sorted(presets))})")
    preset = presets[genre]
    applied.append(f"genre_preset:{genre}")

    mask = report["before"]["masking"]
    report["vocals"] = analysis.spectral_features(voc, sample_rate)
    report["music"] = analysis.spectral_features(mus, sample_rate)
    bpm = estimate_bpm(mus, sample_rate)
    session.genre, session.bpm = genre, round(bpm, 2)

    vocal = _slots(preset["vocal"], host, "vocal chain", warnings)
    for spec in vocal:
        if spec["plugin"] == "delay":
            spec.setdefault("params", {})["bpm"] = session.bpm
        applied.append(f"vocal:{spec.get('label', spec['plugin'])}")
    music_chain = _slots(preset["music"], host, "music chain", warnings)
    _retune_music(music_chain, mask, applied, analysis)
    master = _slots(preset["master"], host, "master chain", warnings)
    applied += [f"master:{s['plugin']}" for s in master]

    offset = float(preset["mix"].get("vocal_offset_lu", 2.0))
    target = ref_info["loudness_lufs"] if ref_info else float(preset["mix"].get("target_lufs", -14.0))
    session.tracks = [Track("vocals", tracks["vocals"], processors=vocal),
                      Track("music", tracks["music"], processors=music_chain)]
    session.master = Master(processors=master, loudness=Loudness(True, float(np.clip(target, -70.0, 0.0)), -1.0))
    plain_target = ref_info["loudness_lufs"] if ref_info else -14.0
    offset, report["intelligibility"] = _check_plan(session, host, voc, mus, offset, plain_target, applied,
                                                    warnings)
    # gain staging needs the loudness *after* the chains (compression, EQ and reverb change
    # it): run the chains over the analysis window, and measure the masking there as well
    stems = processed_stems(session, host, {"vocals": voc, "music": mus})
    post = {k: _lufs(v, sample_rate) for k, v in stems.items()}
    session.tracks[0].gain_db = _matched_gain("vocals", STEM_LUFS + offset - post["vocals"], warnings)
    session.tracks[1].gain_db = _matched_gain("music", STEM_LUFS - post["music"], warnings)
    gv, gm = (10 ** (t.gain_db / 20) for t in session.tracks)
    report["after"] = {"masking": analysis.masking(gv * stems["vocals"], gm * stems["music"], sample_rate)}
    report["post_chain_lufs"] = post
    applied.append(f"vocal_level:+{offset:g}LU")
    applied.append("loudness")
    if ref_info:
        applied.append("reference_match")
    return MixPlan(session, genre, source, confidence, applied, report, lufs, ref_info, warnings)


class _Check:
    """The plan's own intelligibility check: ESTOI of the voice in a short window's mix.

    The window's stems go through the session's chains, are gain-staged as
    :func:`plan_mix` stages them (after the chains, the vocal ``offset`` LU over the
    music), panned and summed, and pass the master chain and loudness stage: what
    the render makes of them. The score is ESTOI (pystoi, ``extended=True``) of that
    mix against the dry voice; it ignores level, so loudness normalisation and the
    sample alignment (the render compensates latency) leave it fair.
    """

    def __init__(self, host: PluginHost, voc: np.ndarray, mus: np.ndarray, sr: int) -> None:
        self.host, self.voc, self.mus, self.sr = host, voc, mus, sr
        self.estoi = host.service("metrics").stoi_score
        self._stems: dict[str, tuple[dict[str, np.ndarray], dict[str, float]]] = {}

    def stems(self, session: Session) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The window through the session's chains and its loudness per track (cached per chain set)."""
        key = repr([(t.name, t.processors) for t in session.tracks])
        if key not in self._stems:
            out = processed_stems(session, self.host, {"vocals": self.voc, "music": self.mus})
            self._stems[key] = (out, {k: _lufs(v, self.sr) for k, v in out.items()})
        return self._stems[key]

    def score(self, session: Session, offset: float | None) -> float:
        """ESTOI of the session's mix of the window; ``offset`` None: the plain sum (raw stems, equal loudness)."""
        from core import loudness
        from core.render import build_chains, pan_gains

        if offset is None:
            stems = {"vocals": self.voc, "music": self.mus}
            levels = {k: _lufs(v, self.sr) for k, v in stems.items()}
            master = None
        else:
            stems, levels = self.stems(session)
            master = build_chains(session, self.host)[1]
        want = {"vocals": STEM_LUFS + (offset or 0.0), "music": STEM_LUFS}
        n = min(v.shape[1] for v in stems.values())
        lat = master.latency if master is not None else 0
        bus = np.zeros((2, n + lat), dtype=np.float32)
        for name, y in stems.items():
            gain = float(np.clip(want[name] - levels[name], *GAIN_RANGE_DB))
            gl, gr = pan_gains(0.0, y.shape[0], gain)
            bus[0, :n] += gl * y[0, :n]
            bus[1, :n] += gr * y[-1, :n]
        if master is not None:
            master.process_offline(bus, self.sr, session.block_size)
        loud = session.master.loudness
        mix, _ = loudness.master(bus[:, lat:], self.sr, self.host, loud.target_lufs, loud.ceiling_dbtp)
        return float(self.estoi(self.voc, mix, self.sr, extended=True))


def _check_window(voc: np.ndarray, sr: int) -> slice:
    """The :data:`CHECK_WINDOW_S` of ``voc`` with the most energy (where the voice is), on a 0.1 s grid."""
    n, w = voc.shape[1], int(CHECK_WINDOW_S * sr)
    if n <= w:
        return slice(0, n)
    energy = np.concatenate([[0.0], np.cumsum(np.square(voc, dtype=np.float64).sum(axis=0))])
    starts = np.arange(0, n - w + 1, sr // 10)
    best = int(starts[np.argmax(energy[starts + w] - energy[starts])])
    return slice(best, best + w)


def _setting(session: Session, track: int, plugins: tuple[str, ...], change: Callable[[dict[str, Any]], str | None]
             ) -> tuple[Session, str] | None:
    """A copy of ``session`` with ``change`` applied to the track's first slot of each of ``plugins``.

    ``change`` edits a slot's params in place and says what it did, or returns None
    (nothing to do); None when it did nothing anywhere.
    """
    trial = copy.deepcopy(session)
    done = []
    for plugin in plugins:
        spec = next((s for s in trial.tracks[track].processors if s["plugin"] == plugin), None)
        if spec is not None and (what := change(spec.setdefault("params", {}))):
            done.append(f"{plugin} {what}")
    return (trial, f"{trial.tracks[track].name}:" + ", ".join(done)) if done else None


def _unmasking_off(p: dict[str, Any]) -> str | None:
    bands = [k for k in ("b1_on", "b2_on") if p.get(k, "on") != "off"]
    p.update({k: "off" for k in bands})
    return "off" if bands else None


def _ducking_off(p: dict[str, Any]) -> str | None:
    if float(p.get("depth_db", 4.0)) <= 0.0:
        return None
    p["depth_db"] = 0.0
    return "off"


def _halve_wet(p: dict[str, Any]) -> str | None:
    wet = float(p.get("wet", 0.25))
    if wet <= 0.0:
        return None
    p["wet"] = round(wet / 2, 3) if wet / 2 >= MIN_WET else 0.0
    return f"wet {wet:g}->{p['wet']:g}"


def _deeper_ducking(p: dict[str, Any]) -> str | None:
    depth = float(p.get("depth_db", 4.0))
    if depth >= MAX_DUCK_DB:
        return None
    p["depth_db"] = min(depth + 2.0, MAX_DUCK_DB)
    return f"depth {depth:g}->{p['depth_db']:g} dB"


def _deeper_unmasking(p: dict[str, Any]) -> str | None:
    bands = [n for n in (1, 2) if p.get(f"b{n}_on", "on") != "off"
             and abs(float(p.get(f"b{n}_range_db", 3.0))) < MAX_UNMASK_DB]
    for n in bands:
        p[f"b{n}_range_db"] = -min(abs(float(p.get(f"b{n}_range_db", 3.0))) + 2.0, MAX_UNMASK_DB)
    return "2 dB deeper" if bands else None


def _check_plan(session: Session, host: PluginHost, voc: np.ndarray, mus: np.ndarray, offset: float,
                plain_target: float, applied: list[str], warnings: list[str]) -> tuple[float, dict[str, Any]]:
    """Check the plan's intelligibility on a window and adapt ``session`` (in place); returns the vocal offset.

    1. An unmasking or ducking stage (whose whole purpose is intelligibility) that
       lowers the voice's ESTOI on this file is switched off for it.
    2. While the mix does not beat the plain level-matched sum by
       :data:`ESTOI_MARGIN`, the one change that raises ESTOI most is made: the
       vocal offset +1 LU (up to :data:`MAX_EXTRA_OFFSET_LU` over the preset's),
       the vocal's reverb and delay wetness halved, ducking or unmasking 2 dB deeper.
       The genre's character is given up only as far as intelligibility needs.
    """
    sr = session.sample_rate
    win = _check_window(voc, sr)
    out: dict[str, Any] = {"window_s": [win.start / sr, win.stop / sr], "changes": []}
    if win.stop - win.start < MIN_CHECK_S * sr:
        warnings.append(f"intelligibility check skipped: under {MIN_CHECK_S:g} s of audio")
        return offset, out
    check = _Check(host, voc[:, win], mus[:, win], sr)
    plain = copy.deepcopy(session)
    plain.master.loudness.target_lufs = plain_target
    try:
        out["plain_estoi"] = check.score(plain, None)
        score = out["preset_estoi"] = check.score(session, offset)
    except MixbridgeError as e:  # e.g. the music is silent where the voice is loudest
        warnings.append(f"intelligibility check skipped: {e}")
        return offset, out

    def accept(trial: Session, trial_offset: float, what: str, new: float) -> None:
        nonlocal score, offset
        out["changes"].append(f"{what} (ESTOI {score:.3f} -> {new:.3f})")
        applied.append(f"intelligibility:{what}")
        session.tracks, offset, score = trial.tracks, trial_offset, new

    for plugin, off in (("dynamic_eq", _unmasking_off), ("ducker", _ducking_off)):
        trial = _setting(session, 1, (plugin,), off)
        if trial is not None and (new := check.score(trial[0], offset)) > score + ESTOI_NOISE:
            accept(trial[0], offset, trial[1], new)
    base_offset = offset
    for _ in range(CHECK_ROUNDS):
        if score >= out["plain_estoi"] + ESTOI_MARGIN:
            break
        moves = [t for t in (_setting(session, 0, ("reverb", "delay"), _halve_wet),
                             _setting(session, 1, ("ducker",), _deeper_ducking),
                             _setting(session, 1, ("dynamic_eq",), _deeper_unmasking)) if t is not None]
        trials = [(check.score(s, offset), s, offset, what) for s, what in moves]
        if offset + 1.0 <= base_offset + MAX_EXTRA_OFFSET_LU:
            trials.append((check.score(session, offset + 1.0), session, offset + 1.0, "vocal offset +1 LU"))
        best = max(trials, key=lambda t: t[0], default=None)
        if best is None or best[0] <= score + ESTOI_STEP:
            break
        accept(best[1], best[2], best[3], best[0])
    out["final_estoi"] = score
    if score < out["plain_estoi"] + ESTOI_MARGIN:
        warnings.append(f"intelligibility: the mix's ESTOI {score:.3f} does not beat the plain sum's "
                        f"{out['plain_estoi']:.3f} by {ESTOI_MARGIN:g} on the check window")
    return offset, out


def _matched_gain(name: str, gain_db: float, warnings: list[str]) -> float:
    """A level-matching gain clamped to :data:`GAIN_RANGE_DB`; a clamp is reported, never fatal."""
    lo, hi = GAIN_RANGE_DB
    if not lo <= gain_db <= hi:
        warnings.append(f"{name}: level matching wanted {gain_db:+.1f} dB; clamped to [{lo:g}, {hi:g}] dB "
                        "(a very quiet or very loud source)")
    return round(min(max(gain_db, lo), hi), 3)


def processed_stems(session: Session, host: PluginHost, audio: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies of ``audio`` (track name -> (channels, frames)) through the session's track chains.

    Sidechains are honoured and the block size is the render's; the result is
    before track gain and the sum, aligned for the chains' latency.
    """
    from core.render import build_chains, track_order

    chains, _ = build_chains(session, host)
    n = max(a.shape[1] for a in audio.values())
    outs: dict[str, np.ndarray] = {}
    for name in track_order(chains):
        a = audio[name]
        outs[name] = np.pad(a, ((0, 0), (0, n - a.shape[1]))).astype(np.float32)
        chains[name].process_offline(outs[name], session.sample_rate, session.block_size,
                                     {s: outs[s] for s in chains[name].sidechain_inputs})
    return {k: v[:, chains[k].latency :] for k, v in outs.items()}


def _image(audio: np.ndarray, sr: int, analysis: Any) -> dict[str, Any]:
    st = analysis.stereo_measures(audio, sr, ((20.0, 150.0),))
    return {"width": st["width"], "correlation": st["correlation"], "balance_db": st["balance_db"],
            "low_band_correlation": st["bands"]["20-150"]["correlation"]}


def run_mix(plan: MixPlan, host: PluginHost, output: str | Path | None = None,
            on_progress: Callable[[float], None] | None = None, observe: Observer | None = None) -> Any:
    """Render the plan, apply reference matching, measure; write OUT.wav + OUT.json when ``output`` is given.

    Returns the ``core.render.RenderResult`` whose report holds ``enhancement_applied``,
    ``genre`` and ``measurements`` (``before``: the plain level-matched sum; ``after``: the mix).
    ``on_progress`` gets the share done (0..1); ``observe`` sees the render's stages
    (see ``core.render.render``) and the plain sum as stage ``"plain"``, side ``"out"``.
    """
    from core import loudness
    from core.render import render, write_outputs

    session = plan.session
    sr = session.sample_rate
    # the plain sum is measured first and dropped, so that it never shares memory with the render
    plain = _plain_sum(plan)
    if observe is not None:
        observe("plain", "out", plain)
    analysis = host.service("analysis")
    before = {**_measure(plain, sr), **_image(plain, sr, analysis),
              "masking_db": plan.analysis["before"]["masking"]["overall_db"]}
    del plain
    share = (lambda done: on_progress(0.05 + 0.85 * done)) if on_progress else None
    result = render(session, host, on_progress=share, observe=observe)
    rep = result.report
    if plan.reference is not None:
        matched, mrep = host.service("reference").match(result.audio, sr, plan.reference)
        result.audio, mastering = loudness.master(matched, sr, host, target_lufs=session.master.loudness.target_lufs,
                                                  ceiling_dbtp=session.master.loudness.ceiling_dbtp)
        rep["reference_match"] = {**mrep, "mastering": mastering}
        rep["loudness"]["after"] = _measure(result.audio, sr)

    after = {**rep["loudness"]["after"], **_image(result.audio, sr, analysis)}
    after["masking_db"] = plan.analysis.get("after", plan.analysis["before"])["masking"]["overall_db"]
    rep["enhancement_applied"] = plan.enhancement_applied
    rep["genre"] = {"name": plan.genre, "source": plan.genre_source, "confidence": plan.genre_confidence}
    rep["measurements"] = {"before": before, "after": after}
    rep["analysis"] = plan.analysis
    rep["warnings"] = [*plan.warnings, *rep["warnings"]]
    rep["session"] = session.to_dict()
    if output is not None:
        write_outputs(result, output, session.bit_depth)
    if on_progress:
        on_progress(1.0)
    return result


def _plain_sum(plan: MixPlan) -> np.ndarray:
    """The stems level-matched and summed, nothing else: the "before" of the report.

    Built in place, one stem at a time, so that it costs one stereo copy of the song.
    """
    session = plan.session
    plain: np.ndarray | None = None
    for track in session.tracks:
        stem, _ = audio_io.read(session.resolve(track.source), sample_rate=session.sample_rate)
        if plain is None:
            plain = np.zeros((2, stem.shape[1]), dtype=np.float32)
        plain = plain[:, : min(plain.shape[1], stem.shape[1])]
        gain = np.float32(10 ** (np.clip(STEM_LUFS - plan.stem_lufs[track.name], *GAIN_RANGE_DB) / 20))
        for start in range(0, plain.shape[1], 1 << 16):  # in chunks: no temporary copy of the stem
            part = slice(start, min(start + (1 << 16), plain.shape[1]))
            plain[:, part] += gain * stem[:, part]
    assert plain is not None
    return plain


def _measure(audio: np.ndarray, sr: int) -> dict[str, Any]:
    from core.render import measure

    return measure(audio, sr)
