"""NUTS benchmark on the Chinchilla data: 4 chains x (1,000 warmup + 1,000 draws), Huber density.

Reports wall time, effective samples per second (minimum bulk ESS over the five parameters / wall
time), r-hat, divergences, and the same run with chains sequential instead of vectorized.

    python -m benchmarks.bench_nuts
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import jaxscale as js

from ._common import chinchilla_data, machine


def run(df, fit, chain_method, args):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", js.SamplingWarning)
        post = js.bayes_fit("chinchilla", df, likelihood="huber", init=fit, chains=args.chains, warmup=args.warmup,
                            samples=args.samples, chain_method=chain_method, seed=args.seed, progress=False)
    wall = time.perf_counter() - t0
    ess = min(post.ess_bulk.values())
    return {"chain_method": chain_method, "wall_s": wall, "min_ess_bulk": ess, "ess_per_s": ess / wall,
            "max_r_hat": max(post.r_hat.values()), "n_divergences": post.n_divergences,
            "sampling_warnings": len(caught),
            "median_minus_point_fit": {k: post.median[k] - fit.params[k] for k in ("alpha", "beta", "E")}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    df, source = chinchilla_data()
    fit = js.fit("chinchilla", df, progress=False)
    out = {"benchmark": "chinchilla_nuts", "data": source, "n_points": len(df), "machine": machine(),
           "chains": args.chains, "warmup": args.warmup, "samples": args.samples,
           "note": "wall time includes compilation (each configuration compiles once)",
           "runs": [run(df, fit, m, args) for m in ("vectorized", "sequential")]}
    v, s = out["runs"]
    out["ratio_sequential_over_vectorized_wall"] = s["wall_s"] / v["wall_s"]
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
