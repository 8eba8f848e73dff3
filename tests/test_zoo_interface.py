"""Every registered law through the same interface: point fit, bootstrap, NUTS and the CLI.

One simulated example per law (tests/_examples.py: known parameters, 0.5% log-normal noise).
Sizes are tiny on purpose: compiling one solver, one bootstrap and one sampler per law is what
these tests cost; recovery at full precision is tested per law in test_zoo.py / test_zoo_lm.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
import _examples  # tests/_examples.py
from jaxscale._cli import main

NAMES = _examples.names()
# LM without the Newton polish: these small problems converge without it, and it compiles ~25% faster
SOLVER = js.get_solver("lm", polish_steps=0)


def test_every_registered_law_has_an_example():
    assert set(NAMES) == set(js.list_laws())


# Laws run through the real bootstrap and NUTS here: the two structurally unusual ones (an
# implicit law solved inside the function with custom derivatives; 2-d schedule inputs). Each
# costs ~25-40 s of compilation on 2 CPU cores, too much for all 18 in the 10-minute CI budget;
# the others get the NumPyro model's log density and its gradient at the fit (below), and the
# core laws get full NUTS runs in test_bayes.py. The benchmark suite fits every law.
SAMPLED = ("m4", "lr_annealing")


@pytest.mark.parametrize("name", NAMES)
def test_recovery_cli_bootstrap_and_nuts(name, tmp_path, capsys, monkeypatch):
    """Noiseless data from the example's parameters, two starts off the truth: the fit recovers
    every parameter (to 1e-4 relative; measured ~1e-12), then the same law by name on the CLI,
    and bootstrap + NUTS (SAMPLED) or the NumPyro model's density (the rest)."""
    law = js.get_law(name)
    truth = _examples.truth(name)
    data = _examples.simulate(name, seed=0, noise=0.0)
    starts = _examples.near_starts(name)
    fit = js.fit(law, data, loss="squared_log", solver=SOLVER, n_steps=60, starts=starts, progress=False)
    assert fit.converged and fit.n_starts == 2
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-4, abs=1e-12), (k, fit.params[k], v)

    _check_cli(law, data, fit, tmp_path, capsys, monkeypatch)

    if name not in SAMPLED:
        _check_model_density(law, data, fit)
        return
    noisy = _examples.simulate(name, seed=0)  # 0.5% noise: intervals with some width
    fit = js.fit(law, noisy, loss="squared_log", solver=SOLVER, n_steps=60, starts=starts, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.BootstrapWarning)
        boot = js.bootstrap(fit, 8, seed=0, progress=False, min_draws=6)
    assert boot.n_resamples == 8 and boot.n_converged >= 6
    ci = boot.interval(level=0.9)
    assert ci.shape == (law.n_params, 2) and np.all(np.isfinite(ci)) and np.all(ci[:, 0] < ci[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.SamplingWarning)
        post = js.bayes_fit(law, noisy, init=fit, chains=1, warmup=30, samples=20, dense_mass=False, progress=False)
    for k in law.param_names:
        draws = post.samples(lambda p, k=k: p[k])
        assert draws.shape == (20,) and np.all(np.isfinite(draws)) and np.ptp(draws) > 0, k
    assert post.idata.posterior.sizes["draw"] == 20


def _check_model_density(law, data, fit):
    """The law's NumPyro model (default priors, Gaussian likelihood on log residuals): finite log
    density and gradient at the fitted parameters, as NUTS needs them."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from jaxscale import precision
    from jaxscale._bayes import make_model

    model = make_model(law)
    with precision():
        x = {k: jnp.asarray(data[k]) for k in law.inputs}
        args = (x, jnp.log(jnp.asarray(data["loss"])), jnp.ones(len(data["loss"])))
        values = {**{k: jnp.asarray(v) for k, v in fit.params.items()}, "sigma": jnp.asarray(0.01)}
        val, grad = jax.jit(jax.value_and_grad(lambda v: log_density(model, args, {}, v)[0]))(values)
    assert np.isfinite(float(val))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grad.values())


def _check_cli(law, data, fit, tmp_path, capsys, monkeypatch):
    """``jaxscale fit --law NAME`` on the example written as a CSV: the CLI resolves the name, reads
    the CSV into exactly the law's inputs (schedule laws from long-format loss curves) and writes
    the JSON. The solver call itself is replaced by the in-process fit above (tested there; a
    second compile per law would not fit the CI budget); end-to-end CLI fits are in test_cli.py."""
    import json

    import jaxscale._cli as cli

    name = law.name
    if law.input_builder is not None:  # schedule laws read long-format loss curves (run, step, lr, loss)
        frame = _long_format(data)
    else:
        frame = pd.DataFrame({k: data[k] for k in (*law.inputs, "loss")})
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    seen = {}

    def fake_fit(law_name, data_arg, **kw):
        seen["law"] = law_name
        ds = js.load_data(data_arg, js.get_law(law_name), inputs=kw["inputs"], target=kw["target"])
        for k in law.inputs:
            np.testing.assert_allclose(ds.inputs[k], data[k], rtol=1e-15)
        np.testing.assert_allclose(ds.y, data["loss"], rtol=1e-15)
        return fit

    monkeypatch.setattr(cli, "fit", fake_fit)
    out = tmp_path / "fit.json"
    rc = main(["fit", str(path), "--law", name, "--loss", "squared_log", "--no-progress", "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert seen["law"] == name
    payload = json.loads(out.read_text())
    assert payload["law"] == name and payload["params"] == pytest.approx(fit.params, rel=1e-15)


def _long_format(data):
    """Rebuild the long-format curves (LR at every step, loss where evaluated) of the schedule example."""
    rows = []
    keys = {}
    for eta, step, loss in zip(data["eta"], data["step"], data["loss"]):
        run = keys.setdefault(eta.tobytes(), f"run{len(keys)}")
        rows.append((run, int(step), loss))
    frames = []
    for eta_bytes, run in keys.items():
        eta = np.frombuffer(eta_bytes)
        evaluated = {s: v for r, s, v in rows if r == run}
        steps = np.arange(1, eta.shape[0] + 1)
        frames.append(pd.DataFrame({"run": run, "step": steps, "lr": eta,
                                    "loss": [evaluated.get(s, np.nan) for s in steps]}))
    return pd.concat(frames, ignore_index=True)
