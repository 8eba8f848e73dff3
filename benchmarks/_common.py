"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

import jaxscale as js

ROOT = Path(__file__).resolve().parents[1]


def chinchilla_data() -> tuple[pd.DataFrame, str]:
    """Epoch AI's 240 points if ../shared/data is present, else the embedded synthetic data."""
    candidates = [os.environ.get("JAXSCALE_SHARED_DATA"), ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / "chinchilla_epoch" / "svg_extracted_data.csv").exists():
            df = pd.read_csv(Path(c) / "chinchilla_epoch" / "svg_extracted_data.csv")
            df = df[df["loss"] < sorted(df["loss"])[-5]].copy()
            df["N"] = df["Model Size"]
            df["D"] = df["Training FLOP"] / (6 * df["Model Size"])
            return df.reset_index(drop=True), "epoch_chinchilla_240"
    return js.synthetic_chinchilla(), "jaxscale_synthetic_135"


def examples():
    """The simulated example per law, ``tests/_examples.py`` (a test fixture, not part of the package)."""
    import sys

    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import _examples

    return _examples


def machine() -> dict:
    return {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "jaxscale": js.__version__}


def timed(fn, repeats: int = 3):
    """(first-call seconds, median of `repeats` warm calls, last result)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        warm.append(time.perf_counter() - t0)
    return first, float(np.median(warm)), out


def emit(out: dict, path: str | None = None) -> dict:
    """Print a benchmark's JSON (floats from NumPy included) and also write it to ``path`` if given."""
    text = json.dumps(out, indent=2, default=float)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
    return out
