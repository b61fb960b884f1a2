"""The pictures and numbers of one command: PNG files and one self-contained HTML report.

``--plot`` writes them beside the command's output (``OUT.spectrum.png``, ...,
``OUT.report.html``); ``--report DIR`` writes them into DIR (``spectrum.png``,
..., ``report.html``). The HTML embeds every image as a base64 data URI and
needs nothing else: no script, no stylesheet, no font from anywhere.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import files

Row = tuple[str, Any, Any, str]  # metric, before, after, unit
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.warn{color:#a40}"""


@dataclass
class Report:
    """Collects figures (written as PNG at once) and numbers, then writes the HTML."""

    folder: Path
    prefix: str
    title: str
    images: dict[str, bytes] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)

    def add(self, name: str, fig: Any) -> Path:
        """Write ``fig`` as ``PREFIXname.png`` and keep it for the HTML."""
        from app.plots import png

        data = png(fig)
        path = files.write_bytes(self.folder / f"{self.prefix}{name}.png", data)
        self.images[name] = data
        self.paths.append(path)
        return path

    def write_html(self, facts: dict[str, Any], rows: list[Row], applied: list[str] | None = None,
                   warnings: list[str] | None = None) -> Path:
        path = files.write_text(self.folder / f"{self.prefix}report.html",
                                page(self.title, facts, rows, self.images, applied or [], warnings or []))
        self.paths.append(path)
        return path


def add_arguments(p: Any, beside: str = "the output") -> None:
    """``--plot`` and ``--report DIR`` on a command's parser."""
    p.add_argument("--plot", action="store_true", help=f"write PNG pictures and an HTML report beside {beside}")
    p.add_argument("--report", type=Path, metavar="DIR", help="write the pictures and report.html into DIR")


def target(plot: bool, report_dir: Path | None, beside: Path) -> Report | None:
    """Where a command's pictures go: ``--report DIR``, else beside ``beside`` with ``--plot``, else nowhere."""
    if report_dir is not None:
        return Report(Path(report_dir), "", beside.stem)
    if plot:
        return Report(beside.parent, f"{beside.stem}.", beside.stem)
    return None


def _cell(v: Any, unit: str = "") -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f} {unit}".strip()
    return html.escape(f"{v} {unit}".strip())


def page(title: str, facts: dict[str, Any], rows: list[Row], images: dict[str, bytes], applied: list[str],
         warnings: list[str]) -> str:
    """The report as one HTML document: facts, a before/after table, applied stages, warnings, images."""
    esc = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
           f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>"]
    if facts:
        out.append("<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in facts.items())
                   + "</table>")
    if rows:
        out.append("<table><tr><th>measure</th><th>before</th><th>after</th><th>change</th></tr>")
        for metric, b, a, unit in rows:
            change = f"{a - b:+.2f} {unit}".strip() if isinstance(a, float) and isinstance(b, float) else ""
            out.append(f"<tr><td>{esc(metric)}</td><td>{_cell(b, unit)}</td><td>{_cell(a, unit)}</td>"
                       f"<td>{change}</td></tr>")
        out.append("</table>")
    if applied:
        out.append("<h2>Applied</h2><ul>" + "".join(f"<li>{esc(a)}</li>" for a in applied) + "</ul>")
    if warnings:
        out.append("<h2>Warnings</h2><ul>" + "".join(f"<li class='warn'>{esc(w)}</li>" for w in warnings) + "</ul>")
    for name, data in images.items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        out.append(f"<h2>{esc(name)}</h2><img alt='{esc(name)}' src='{uri}'>")
    out.append("</body></html>\n")
    return "\n".join(out)


# ------------------------------------------------------------ what each command shows
LEVEL_ROWS = (("integrated_lufs", "integrated loudness", "LUFS"), ("loudness_range_lu", "loudness range", "LU"),
              ("true_peak_dbtp", "true peak", "dBTP"), ("sample_peak_dbfs", "sample peak", "dBFS"))
IMAGE_ROWS = (("width", "stereo width", ""), ("correlation", "L/R correlation", ""),
              ("low_band_correlation", "low-band (20-150 Hz) correlation", ""), ("masking_db", "masking", "dB"))


def rows_of(before: dict[str, Any], after: dict[str, Any], keys: tuple[tuple[str, str, str], ...]) -> list[Row]:
    """Table rows for the keys present on either side."""
    return [(label, before.get(k), after.get(k), unit) for k, label, unit in keys
            if before.get(k) is not None or after.get(k) is not None]


def loudness_stage(rep: dict[str, Any]) -> dict[str, Any]:
    """The render report's loudness stage (target, ceiling, gain), or {} when it did not run."""
    return next((s for s in rep.get("stages", []) if s.get("stage") == "loudness"), {})


def add_render_pictures(report: Report, result: Any, taps: Any, before: str) -> None:
    """Spectrum, loudness and gain-change pictures of a render or a mix.

    ``before`` is ``"sources"`` (each track's input, for ``render``) or ``"plain"``
    (the level-matched plain sum that ``mix`` measures as its "before").
    """
    from app import plots

    rep, sr, name = result.report, result.sample_rate, report.title
    if before == "plain":
        spec_before = {"before: plain level-matched sum": taps.spectra["plain", "out"]}
        lv_before = {"before (plain sum)": taps.levels["plain", "out"]}
    else:
        spec_before = {f"before: {stage[6:]} source": c for (stage, side), c in taps.spectra.items()
                       if stage.startswith("track:") and side == "in"}
        lv_before = {"before mastering": taps.levels["loudness", "in"]} if ("loudness", "in") in taps.levels else {}
    report.add("spectrum", plots.spectrum_figure(spec_before, {"after: master": plots.spectrum(result.audio, sr)},
                                                 f"{name}: spectrum before and after"))
    stage = loudness_stage(rep)
    report.add("loudness", plots.loudness_figure({**lv_before, "after": plots.level_tracks(result.audio, sr)},
                                                 stage.get("target_lufs"), stage.get("ceiling_dbtp"),
                                                 f"{name}: loudness over time"))
    gains = {}
    for key, curve in taps.gains().items():
        if key == "loudness":  # the stage's fixed gain is not a reduction: show the limiter's part only
            gains[f"limiter (after the {stage['gain_db']:+.1f} dB loudness gain)"] = (
                curve[0], curve[1] - stage["gain_db"])
        else:
            gains[f"{key[6:]} chain" if key.startswith("track:") else f"{key} chain"] = curve
    report.add("gain", plots.gain_figure(gains, f"{name}: gain change per stage (compression, ducking, limiting)"))


def add_voice_pictures(report: Report, before: Any, after: Any, sr: int, voice: Any, key: str | None,
                       pitch: bool = True, labels: tuple[str, str] = ("before", "after"), prefix: str = "") -> None:
    """Spectrum and loudness of a vocal before and after; its pitch track with the scale of ``key``.

    The pictures are named ``PREFIXspectrum``, ``PREFIXloudness`` and ``PREFIXpitch``.
    """
    from app import plots

    name = report.title
    report.add(f"{prefix}spectrum", plots.spectrum_figure({labels[0]: plots.spectrum(before, sr)},
                                                 {labels[1]: plots.spectrum(after, sr)}, f"{name}: spectrum"))
    if min(before.shape[-1], after.shape[-1]) >= 0.4 * sr:
        report.add(f"{prefix}loudness", plots.loudness_figure({labels[0]: plots.level_tracks(before, sr),
                                                      labels[1]: plots.level_tracks(after, sr)},
                                                     None, None, f"{name}: loudness over time"))
    if pitch:
        scale = voice.parse_scale(key) if key else None
        contours = voice.pitch_track(before, sr), voice.pitch_track(after, sr)
        report.add(f"{prefix}pitch", plots.pitch_figure(*contours, scale, f"{name}: pitch"
                                                        + (f", scale {key}" if key else ""), labels))
