"""Shared fixtures. The real published data sets live in ../shared/data beside the repository
(CI has them); set JAXSCALE_SHARED_DATA to point elsewhere. Outside CI, tests that need them
skip when the folder is missing; under CI (CI=true) they fail instead."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    candidates = [os.environ.get("JAXSCALE_SHARED_DATA"), ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if d is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/data is missing in CI")
        pytest.skip("../shared/data not found (set JAXSCALE_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def epoch_df(shared_data) -> pd.DataFrame:
    """Epoch AI's 240 Chinchilla points: 5 highest losses dropped, D = C / (6 N)."""
    df = pd.read_csv(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv")
    df = df[df["loss"] < sorted(df["loss"])[-5]].copy()
    df["N"] = df["Model Size"]
    df["D"] = df["Training FLOP"] / (6 * df["Model Size"])
    assert len(df) == 240
    return df.reset_index(drop=True)


@pytest.fixture(scope="session")
def epoch_reference(shared_data) -> dict:
    import json

    return json.loads((shared_data / "chinchilla_epoch" / "reference_fits.json").read_text())


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def epoch_fit(epoch_df):
    """The full 4,500-start grid fit of the 240 Epoch points (computed once per session)."""
    import jaxscale as js

    return js.fit("chinchilla", epoch_df, progress=False)
