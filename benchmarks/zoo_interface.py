"""Every registered law through fit, bootstrap and NUTS on its simulated example (0.5% noise).

The unit tests run the real bootstrap and NUTS for two zoo laws only (compiling a sampler per law
does not fit the CI budget); this script runs all of them and prints, per law, the status of each
stage, the time (compilation included) and a check against the generating parameters.

    python -m benchmarks.zoo_interface [--resamples 200] [--warmup 300] [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

import jaxscale as js
from ._common import examples, machine

_examples = examples()


def run_law(name, args):
    law = js.get_law(name)
    truth = _examples.truth(name)
    data = _examples.simulate(name, seed=0)
    out = {"n_points": len(data["loss"]), "n_params": law.n_params}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = js.fit(law, data, loss="squared_log", starts=_examples.near_starts(name), progress=False)
        out["fit"] = {"s": time.perf_counter() - t0, "converged": bool(fit.converged)}
        t0 = time.perf_counter()
        boot = js.bootstrap(fit, args.resamples, seed=0, progress=False)
        ci = boot.interval(level=0.95)
        covered = [bool(lo <= truth[k] <= hi) for k, (lo, hi) in zip(law.param_names, ci)]
        out["bootstrap"] = {"s": time.perf_counter() - t0, "n_resamples": boot.n_resamples,
                            "n_converged": boot.n_converged, "truth_in_95pct_interval": int(sum(covered))}
        t0 = time.perf_counter()
        post = js.bayes_fit(law, data, init=fit, chains=2, warmup=args.warmup, samples=args.samples, seed=0,
                            on_failure="ignore", progress=False)
        ci = post.interval(level=0.95)
        covered = [bool(lo <= truth[k] <= hi) for k, (lo, hi) in zip(law.param_names, ci)]
    r_hat = [v for k, v in post.r_hat.items() if k in law.param_names]
    out["nuts"] = {"s": time.perf_counter() - t0, "max_r_hat": float(max(r_hat)), "n_divergences": post.n_divergences,
                   "all_draws_finite": bool(all(np.all(np.isfinite(post.samples(lambda p, k=k: p[k])))
                                                for k in law.param_names)),
                   "truth_in_95pct_interval": int(sum(covered))}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--laws", default=None, help="comma-separated subset (default: every law with an example)")
    args = ap.parse_args(argv)
    names = args.laws.split(",") if args.laws else _examples.names()
    t0 = time.perf_counter()
    rows = {}
    for name in names:
        try:
            rows[name] = run_law(name, args)
        except Exception as err:  # reported, not hidden
            rows[name] = {"error": f"{type(err).__name__}: {err}"}
        print(f"[zoo_interface] {name}: {json.dumps(rows[name])}", flush=True)
    out = {"benchmark": "zoo_interface", "machine": machine(), "resamples": args.resamples,
           "nuts": {"chains": 2, "warmup": args.warmup, "samples": args.samples},
           "total_s": time.perf_counter() - t0, "laws": rows}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
