"""Acceptance tier (``pytest -m slow``, run by .ci/run after the unit tier): every registered law
through the real bootstrap and NUTS on its simulated example.

The unit tier (tests/test_zoo_interface.py) runs two structurally unusual laws through bootstrap
and NUTS and checks the NumPyro density of the rest; compiling a sampler per law for all 18 does
not fit the unit tier's 10-minute budget, so the full sweep lives here.
"""

import warnings

import numpy as np
import pytest

import _examples  # tests/_examples.py
import jaxscale as js

pytestmark = pytest.mark.slow

NAMES = _examples.names()
SOLVER = js.get_solver("lm", polish_steps=0)


@pytest.mark.parametrize("name", NAMES)
def test_every_law_through_bootstrap_and_nuts(name):
    """0.5% log-normal noise around known parameters: the fit converges, 16 resamples give finite
    90% intervals with positive width, and a short NUTS run gives finite, varying draws of every
    parameter whose 99% credible interval, widened by 10% of the generating value, contains that
    value. The sizes are for the machinery, not for inference (1 chain of 150 + 100 draws): weakly
    identified pairs such as kaplan's Nc / alpha_N do not mix in 100 draws (measured: Nc's 99%
    interval started 8% above the truth), hence the 10% slack; draws stuck at the start or on the
    wrong scale still fail it."""
    law = js.get_law(name)
    truth = _examples.truth(name)
    noisy = _examples.simulate(name, seed=1)
    fit = js.fit(law, noisy, loss="squared_log", solver=SOLVER, n_steps=80,
                 starts=_examples.near_starts(name), progress=False)
    assert fit.converged

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.BootstrapWarning)
        # 16 resamples exercise the machinery; min_draws=12 lowers the default minimum (50 valid
        # draws for a 90% interval) on purpose: these intervals are not for inference.
        boot = js.bootstrap(fit, 16, seed=0, progress=False, min_draws=12)
    assert boot.n_converged >= 12
    ci = np.asarray(boot.interval(level=0.9))
    assert ci.shape == (law.n_params, 2) and np.all(np.isfinite(ci)) and np.all(ci[:, 0] <= ci[:, 1])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.SamplingWarning)
        post = js.bayes_fit(law, noisy, init=fit, chains=1, warmup=150, samples=100, dense_mass=False,
                            progress=False)
    for k in law.param_names:
        draws = np.asarray(post.samples(lambda p, k=k: p[k]))
        assert draws.shape == (100,) and np.all(np.isfinite(draws)) and np.ptp(draws) > 0, k
        lo, hi = np.quantile(draws, [0.005, 0.995])
        scale = max(abs(truth[k]), 1e-12)
        assert lo - 0.1 * scale <= truth[k] <= hi + 0.1 * scale, (k, lo, hi, truth[k])
