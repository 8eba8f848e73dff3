"""One simulated example per registered law: known parameters, a design of inputs, 0.5% noise.

Used by the parametrised zoo test (every law through fit, bootstrap and NUTS) and by the
benchmark suite (every law's fit against the scipy loop). The data are synthetic, generated
deterministically from the parameter values below (published values where the law's paper gives
them, round values otherwise).
"""

from __future__ import annotations

import numpy as np

import jaxscale as js
from jaxscale import get_law, precision

NOISE = 0.005


def _logu(rng, lo, hi, n):
    return 10 ** rng.uniform(lo, hi, n)


def _lr_inputs(rng):
    from jaxscale.laws.schedules import constant_schedule, cosine_schedule, schedule_inputs

    x = schedule_inputs({"constant": constant_schedule(200, 1e-3), "cosine": cosine_schedule(200, 1e-3)},
                        list(range(10, 201, 10)))
    return {"step": x["step"], "eta": x["eta"]}


def _designs():
    from jaxscale import EPOCH_PARAMS

    return {
        "power_law": ({"a": 5.0, "alpha": 0.3}, lambda r: {"x": np.logspace(1, 6, 20)}),
        "saturating_power_law": ({"E": 1.5, "A": 30.0, "alpha": 0.4}, lambda r: {"x": np.logspace(2, 6, 20)}),
        "chinchilla": (dict(EPOCH_PARAMS), lambda r: {"N": _logu(r, 7, 10, 40), "D": _logu(r, 9, 12, 40)}),
        "kaplan": ({"Nc": 6.4e13, "Dc": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
                   lambda r: {"N": _logu(r, 6, 10, 40), "D": _logu(r, 8, 11, 40)}),
        "bnsl": ({"a": 0.41388, "b": 2.27727, "c0": 0.055077, "c1": 5.6629, "d1": 612.58, "f1": 0.059193},
                 lambda r: {"x": np.logspace(1, 4, 30)}),
        "bnsl2": ({"a": 0.1, "b": 5.0, "c0": 0.1, "c1": 0.5, "c2": 1.0, "d1": 100.0, "d2": 1e4, "f1": 0.3, "f2": 0.5},
                  lambda r: {"x": np.logspace(0, 6, 30)}),
        "m4": ({"eps_inf": 0.3, "eps_0": 4.0, "alpha": 0.7, "beta": 30.0, "c": -0.4}, lambda r: {"x": np.logspace(0, 8, 30)}),
        "hestness": ({"E": 0.2, "L0": 3.0, "x0": 1e3, "alpha": 0.5}, lambda r: {"x": np.logspace(0, 9, 30)}),
        "kaplan_ns": (dict(js.laws.KAPLAN_NS_PARAMS),
                      lambda r: {"N": _logu(r, 6, 10, 40), "S": _logu(r, 3, 5.5, 40), "B": _logu(r, 4, 7.5, 40)}),
        "kumar_precision": ({"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28, "gamma_w": 2.5,
                             "gamma_a": 2.0, "gamma_kv": 1.0},
                            lambda r: {"N": _logu(r, 7.5, 9.5, 60), "D": _logu(r, 9, 11, 60),
                                       **{k: r.choice([2.0, 3.0, 4.0, 6.0, 8.0, 16.0], 60) for k in ("P_w", "P_a", "P_kv")}}),
        "fp_quant": (dict(js.laws.FP_QUANT_PARAMS),
                     lambda r: {"N": _logu(r, 7.5, 9, 60), "D": _logu(r, 9.5, 11.3, 60),
                                "E": r.integers(1, 6, 60).astype(float), "M": r.integers(0, 7, 60).astype(float),
                                "B": 2.0 ** r.integers(4, 13, 60)}),
        "sigmoid_link": ({"floor": 0.25, "ceiling": 0.85, "x0": 1e21, "k": 1.5}, lambda r: {"x": np.logspace(18, 24, 30)}),
        "passuntil": ({"c": 5e4, "alpha": 0.5}, lambda r: {"N": np.logspace(7.5, 9.5, 20)}),
        # Gadre et al.'s RedPajama fit (alpha=166.2, b=-0.2729, beta=366.7 -> B = beta / 6^(eta/2))
        "overtraining": ({"E": 1.8366, "A": 166.21, "B": 366.69 / 6 ** (0.27285 / 2), "eta": 0.27285},
                         lambda r: _overtraining_inputs(r)),
        "error_link": ({"eps": 0.857, "k": 2.2065, "gamma": 0.7146}, lambda r: {"L": np.linspace(2.3, 4.5, 20)}),
        "lr_annealing": ({"L0": 2.5, "A": 0.6, "alpha": 0.5, "C": 1.0}, _lr_inputs),
        "data_constrained": ({"E": float(np.exp(0.6254804)), "A": float(np.exp(6.255414)), "B": float(np.exp(7.3049974)),
                              "alpha": 0.3526596, "beta": 0.3526596, "R_D": 15.387756, "R_N": 5.309743},
                             lambda r: _data_constrained_inputs()),
        "data_filtering": ({"a": 1e-5, "b": -0.25, "tau": 3.0, "d": 0.3}, lambda r: _data_filtering_inputs()),
    }


def _overtraining_inputs(rng):
    n = np.repeat([1.06e7, 7.9e7, 1.54e8, 4.1e8, 1.44e9], 4)
    m = np.tile([5.0, 20.0, 80.0, 320.0], 5)
    return {"N": n, "D": n * m}


def _data_constrained_inputs():
    n, d, u = (a.ravel() for a in np.meshgrid(np.logspace(7, 9.5, 4), np.logspace(8, 10, 3),
                                               [0.5, 1, 4, 16, 64], indexing="ij"))
    return {"N": n, "U": d, "D": d * u}


def _data_filtering_inputs():
    s, m = (a.ravel() for a in np.meshgrid([1e6, 5e6, 2e7], np.logspace(-0.5, 1.5, 8), indexing="ij"))
    return {"n": s * m, "S": s}


def names() -> list[str]:
    """Laws with an example (every built-in law)."""
    return sorted(_designs())


def truth(name: str) -> dict:
    """The parameter values the example of ``name`` is simulated from."""
    return dict(_designs()[name][0])


def near_starts(name: str) -> np.ndarray:
    """Two starts off :func:`truth`, natural space ``(2, P)``: positive parameters x0.8 and x1.25,
    real ones -0.05 and +0.05, bounded ones a fifth of the way towards each bound."""
    law, params = get_law(name), truth(name)
    rows = []
    for sgn in (-1, 1):
        row = []
        for p in law.params:
            v = params[p.name]
            if p.transform == "positive":
                row.append(v * 1.25 ** sgn)
            elif p.transform == "real":
                row.append(v + 0.05 * sgn)
            else:
                lo, hi = p.transform[1], p.transform[2]
                row.append(v + 0.2 * ((hi - v) if sgn > 0 else (lo - v)))
        rows.append(row)
    return np.array(rows)


def simulate(name: str, seed: int = 0, noise: float = NOISE) -> dict:
    """Inputs and a ``"loss"`` target simulated from :func:`truth` with log-normal noise ``noise``."""
    import jax.numpy as jnp

    params, design = _designs()[name]
    rng = np.random.default_rng(seed)
    x = design(rng)
    law = get_law(name)
    with precision():
        y = np.asarray(law.predict({k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()},
                                   {k: jnp.asarray(v, dtype=jnp.float64) for k, v in x.items()}))
    return {**x, "loss": y * np.exp(noise * rng.standard_normal(y.shape))}
