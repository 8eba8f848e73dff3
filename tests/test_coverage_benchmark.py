"""The coverage benchmark's bookkeeping (benchmarks/coverage.py), on cases with known answers."""

import math

import numpy as np
import pytest

import jaxscale as js
from benchmarks import coverage


def test_coverage_summary_known_answer():
    hits = np.array([True] * 19 + [False])
    s = coverage.coverage_summary(hits, 0.95)
    assert s["coverage"] == 0.95 and s["n"] == 20
    assert s["se"] == pytest.approx(math.sqrt(0.95 * 0.05 / 20))
    assert s["se_at_nominal"] == pytest.approx(math.sqrt(0.95 * 0.05 / 20))
    assert coverage.coverage_summary(np.ones(4, bool), 0.9)["coverage"] == 1.0


def test_prediction_targets_are_compute_optimal_under_the_truth():
    truth = dict(js.EPOCH_PARAMS)
    t = coverage.truth_targets(truth)
    assert set(t) == {"pred_10x", "pred_100x"}
    for key, factor in (("pred_10x", 10.0), ("pred_100x", 100.0)):
        g = t[key]
        assert 6 * g["N"] * g["D"] == pytest.approx(factor * 3e21, rel=1e-9)
        loss = lambda n: truth["E"] + truth["A"] / n ** truth["alpha"] + truth["B"] / (g["C"] / (6 * n)) ** truth["beta"]
        assert g["loss"] == pytest.approx(loss(g["N"]), rel=1e-12)
        # optimal: moving N either way along the iso-compute curve raises the loss
        assert loss(g["N"] * 1.05) > g["loss"] and loss(g["N"] / 1.05) > g["loss"]


@pytest.mark.slow
def test_bootstrap_coverage_run_end_to_end(tmp_path):
    out = tmp_path / "cov.json"
    import json

    coverage.main(["--method", "bootstrap", "--n", "2", "--resamples", "32", "--min-draws", "20",
                   "--schemes", "iid,residual",
                   "--json", str(out)])
    rep = json.loads(out.read_text())
    assert rep["n_datasets"] == 2 and set(rep["schemes"]) == {"iid", "residual"}
    for s in rep["schemes"].values():
        for k, c in s["coverage"].items():
            assert c["n"] == 2 and c["coverage"] in (0.0, 0.5, 1.0)
