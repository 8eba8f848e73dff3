"""Coverage of jaxscale's intervals on simulated data (a measurement, not a unit test).

Simulates ``--n`` data sets from the saturating power law (E=1.5, A=20, alpha=0.45, 25 points,
3% log-normal noise), fits each with NUTS (2 chains x 300 warmup + 300 draws) and reports how
often the 90% equal-tailed credible interval covers the true alpha and E.

    python -m benchmarks.coverage --n 100
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings

import numpy as np

import jaxscale as js


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--level", type=float, default=0.9)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(7)
    truth = {"E": 1.5, "A": 20.0, "alpha": 0.45}
    hits = {k: 0 for k in truth}
    t0 = time.perf_counter()
    for i in range(args.n):
        x = np.logspace(1, 6, 25)
        y = (truth["E"] + truth["A"] * x ** -truth["alpha"]) * np.exp(0.03 * rng.standard_normal(25))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = js.bayes_fit("saturating_power_law", {"x": x, "loss": y}, chains=2, warmup=300, samples=300,
                                seed=i, progress=False)
        ci = dict(zip(post.law.param_names, post.interval(level=args.level)))
        for k, v in truth.items():
            hits[k] += ci[k][0] <= v <= ci[k][1]
    rate = {k: h / args.n for k, h in hits.items()}
    se = math.sqrt(args.level * (1 - args.level) / args.n)
    print(json.dumps({"level": args.level, "n_datasets": args.n, "coverage": rate,
                      "binomial_se_at_nominal": se, "seconds": time.perf_counter() - t0}, indent=2))


if __name__ == "__main__":
    main()
