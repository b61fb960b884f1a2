"""Before/after measurements for ``mixbridge validate voice|mixing``.

Each row is ``{"metric", "before", "after"}`` (a side is None where the metric
only applies to one of them, e.g. PESQ of the enhanced file against the original).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.loudness import integrated_lufs, loudness_range, true_peak_dbtp

Row = dict[str, Any]


def voice_table(before: np.ndarray, after: np.ndarray, sample_rate: int) -> list[Row]:
    """DNSMOS and level of each; PESQ/STOI of ``after`` against ``before``.

    Examples
    --------
    >>> rows = voice_table(original, enhanced, 48000)  # doctest: +SKIP
    >>> rows[0]["metric"]                               # doctest: +SKIP
    'DNSMOS OVRL'
    """
    from core.host import PluginHost

    calculate_all_metrics = PluginHost.from_toml().service("metrics").calculate_all_metrics
    mb = calculate_all_metrics(before, sample_rate)
    ma = calculate_all_metrics(after, sample_rate, reference=before)
    rows: list[Row] = [
        {"metric": f"DNSMOS {k.upper()}", "before": mb["dnsmos"][k], "after": ma["dnsmos"][k]}
        for k in ("ovrl", "sig", "bak", "p808")
    ]
    rows += [
        {"metric": "PESQ wb vs original", "before": None, "after": ma["pesq_wb"]},
        {"metric": "PESQ nb vs original", "before": None, "after": ma["pesq_nb"]},
        {"metric": "STOI vs original", "before": None, "after": ma["stoi"]},
        {"metric": "ESTOI vs original", "before": None, "after": ma["estoi"]},
        {"metric": "overall (1-5, after with fidelity)", "before": None, "after": ma["overall"]},
    ]
    return rows + _levels(before, after, sample_rate)


def _levels(before: np.ndarray, after: np.ndarray, sr: int) -> list[Row]:
    return [
        {"metric": "integrated LUFS", "before": integrated_lufs(before, sr), "after": integrated_lufs(after, sr)},
        {"metric": "true peak dBTP", "before": true_peak_dbtp(before, sr), "after": true_peak_dbtp(after, sr)},
    ]


def _mix_features(x: np.ndarray, sr: int) -> dict[str, float]:
    from scipy.signal import welch

    x = np.atleast_2d(x).astype(np.float64)
    mono = x.mean(axis=0)
    rms = np.sqrt(np.mean(mono**2)) + 1e-12
    f, p = welch(mono, sr, nperseg=4096)
    total = p.sum() + 1e-30
    out = {
        "crest factor dB": 20 * np.log10(np.max(np.abs(mono)) / rms),
        "low share % (<250 Hz)": 100 * p[f < 250].sum() / total,
        "mid share % (250 Hz-4 kHz)": 100 * p[(f >= 250) & (f < 4000)].sum() / total,
        "high share % (>4 kHz)": 100 * p[f >= 4000].sum() / total,
        "spectral centroid Hz": float((f * p).sum() / total),
    }
    if x.shape[0] == 2:
        mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
        out["side/mid dB"] = 10 * np.log10((np.mean(side**2) + 1e-20) / (np.mean(mid**2) + 1e-20))
        out["L/R correlation"] = float(np.corrcoef(x[0], x[1])[0, 1]) if np.std(side) > 0 else 1.0
    return out


def mixing_table(before: np.ndarray, after: np.ndarray, sample_rate: int) -> list[Row]:
    """Loudness, range, peaks, crest, spectral balance and stereo width of two mixes."""
    rows = _levels(before, after, sample_rate)
    rows.append(
        {
            "metric": "loudness range LU",
            "before": loudness_range(before, sample_rate),
            "after": loudness_range(after, sample_rate),
        }
    )
    fb, fa = _mix_features(before, sample_rate), _mix_features(after, sample_rate)
    rows += [{"metric": k, "before": fb[k], "after": fa.get(k)} for k in fb]
    return rows
