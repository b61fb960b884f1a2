"""Argument types for the CLI: a mistake is argparse's one-line usage error, never a traceback later."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def positive_days(text: str) -> float:
    """A finite number of days in (0, 366]: ``--days nan``, ``0`` or ``-1`` are refused."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not (math.isfinite(days) and 0 < days <= 366):
        raise argparse.ArgumentTypeError(f"{text[:40]} days: give a positive number of days, at most 366")
    return days


def output_path(text: str) -> Path:
    """An output file path: not empty (``-o ''`` would become the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the output path is empty")
    return Path(text)
