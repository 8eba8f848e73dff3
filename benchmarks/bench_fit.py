"""Full-grid Chinchilla refit: the scipy L-BFGS-B loop (as researchers run it) against jaxscale.

Both fit the summed Huber loss (delta=1e-3) on log residuals in the log-sum-exp parametrisation
from every point of Epoch AI's 4,500-start grid, in one run, on one machine. Prints JSON with both
times, their ratio and both best objectives.

    python -m benchmarks.bench_fit               # full grid both ways (~3 min on 2 CPU cores)
    python -m benchmarks.bench_fit --scipy-starts 500   # time 500 scipy starts, scale to 4,500
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

import jaxscale as js

from ._common import chinchilla_data, machine, timed


def scipy_objective(u, lN, lD, ly, delta):
    """Summed Huber on log residuals and its analytic gradient; u = (log E, log A, log B, alpha, beta)."""
    e, a, b, al, be = u
    t = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
    m = logsumexp(t, axis=0)
    r = ly - m
    ar = np.abs(r)
    f = np.sum(np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)))
    psi = np.clip(r, -delta, delta)
    soft = np.exp(t - m)
    dm = np.stack([soft[2], soft[0], soft[1], -soft[0] * lN, -soft[1] * lD])
    return f, -dm @ psi


def scipy_loop(starts, lN, lD, ly, delta=1e-3):
    best, n_success = None, 0
    for u0 in starts:
        r = minimize(scipy_objective, u0, args=(lN, lD, ly, delta), jac=True, method="L-BFGS-B")
        n_success += bool(r.success)
        if r.success and (best is None or r.fun < best.fun):
            best = r
    return best, n_success


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scipy-starts", type=int, default=None,
                    help="time only this many scipy starts (evenly spaced over the grid) and scale to the full grid")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    df, source = chinchilla_data()
    starts = js.chinchilla.default_starts()  # (4500, 5), Epoch's grid, unconstrained (log E, log A, log B, alpha, beta)
    lN, lD, ly = np.log(df["N"].to_numpy()), np.log(df["D"].to_numpy()), np.log(df["loss"].to_numpy())

    first, warm, res = timed(lambda: js.fit("chinchilla", df, progress=False), args.repeats)

    subset = starts if args.scipy_starts is None else starts[np.linspace(0, len(starts) - 1, args.scipy_starts).astype(int)]
    t0 = time.perf_counter()
    best, n_success = scipy_loop(subset, lN, lD, ly)
    scipy_s = time.perf_counter() - t0
    scaled = scipy_s * len(starts) / len(subset)
    out = {
        "benchmark": "chinchilla_full_grid_refit",
        "data": source,
        "n_points": len(df),
        "n_starts": len(starts),
        "machine": machine(),
        "jaxscale": {"first_call_s": first, "warm_median_s": warm, "compile_s_est": first - warm,
                     "best_objective": res.objective, "n_converged": res.n_converged, "n_at_best": res.n_at_best,
                     "solver": f"{res.solver.name} ({res.n_steps} steps + polish)", "params": res.params},
        "scipy": {"method": "L-BFGS-B with analytic gradient, one start at a time",
                  "starts_timed": len(subset), "seconds_timed": scipy_s,
                  "seconds_full_grid": scaled, "scaled_from_subset": args.scipy_starts is not None,
                  "best_objective": float(best.fun), "n_success": n_success},
        "ratio_scipy_over_jaxscale_warm": scaled / warm,
        "ratio_scipy_over_jaxscale_first_call": scaled / first,
        "best_objective_rel_diff": abs(res.objective - best.fun) / best.fun,
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
