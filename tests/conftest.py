"""Shared fixtures. The real published data sets live in ../shared/data beside the repository
(CI has them); set JAXSCALE_SHARED_DATA to point elsewhere. Outside CI, tests that need them
skip when the folder is missing; under CI (CI=true) they fail instead."""

import os
import tempfile
from pathlib import Path

# Test-session setting (tests only; the library never touches global JAX config): a persistent
# compilation cache shared by the pytest-xdist workers of one run, so a program that both workers
# need (the session fixtures' fits) compiles once. Removed at the end of the run.
# A cache directory the user set is used as it is and never removed.
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"single-{os.getpid()}")
_OWN_CACHE = os.path.join(tempfile.gettempdir(), f"jaxscale-tests-{_run}")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _OWN_CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

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

    return js.fit("chinchilla", epoch_df, starts="grid", progress=False)


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's own compilation cache (on the xdist controller, or a plain single process)."""
    if not hasattr(session.config, "workerinput") and os.environ.get("JAX_COMPILATION_CACHE_DIR") == _OWN_CACHE:
        import shutil

        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
