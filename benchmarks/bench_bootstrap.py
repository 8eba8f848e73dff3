"""Bootstrap benchmark: jaxscale's batched bootstrap against scipy variable projection over a pool.

Both sides refit the same ``n`` i.i.d. resamples of Epoch AI's 240 Chinchilla points (the same
multinomial counts, ``jaxscale``'s ``resample_weights``), each minimising the count-weighted summed
Huber (delta = 1e-3) of log residuals, in one run:

* jaxscale: ``js.bootstrap(fit, n)`` (first call and a warm call).
* peer: for every resample, the full variable-projection fit of :mod:`benchmarks._peers`
  (32 x 32 exponent grid of weighted NNLS fits, Nelder-Mead on the exponents, L-BFGS-B on the
  weighted Huber-log objective from the 5 best), over a 2-worker ``ProcessPoolExecutor`` with
  ``OPENBLAS_NUM_THREADS=1`` (pool start-up included).

Per-resample quality is compared resample by resample: how many best objectives agree within
1e-9 (relative), and how many are worse on each side. The 95% percentile intervals of both and
Epoch AI's published ones are printed beside each other.

    python -m benchmarks.bench_bootstrap                  # 4,000 resamples (~10 minutes on 2 CPU cores)
    python -m benchmarks.bench_bootstrap --quick          # 100 resamples
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np

import jaxscale as js
from jaxscale._bootstrap import resample_weights

from ._common import chinchilla_data, emit, machine, timed
from ._peers import log_data, run_isolated

EPOCH_CI = {"alpha": [0.317, 0.373], "beta": [0.331, 0.415], "E": [1.769, 1.871]}
RTOL = 1e-9


def _interval(draws: dict) -> dict:
    return {k: np.percentile(draws[k], [2.5, 97.5]).tolist() for k in EPOCH_CI}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 resamples")
    ap.add_argument("--n", type=int, default=None, help="resamples (default 4000; quick 100)")
    ap.add_argument("--workers", type=int, default=2, help="peer pool workers")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    n = args.n or (100 if args.quick else 4000)
    load_start = os.getloadavg()
    t_run = time.perf_counter()

    df, source = chinchilla_data()
    print(f"[bench_bootstrap] full-data fit, then jaxscale bootstrap of {n} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    fit = js.fit("chinchilla", df, progress=False)
    fit_s = time.perf_counter() - t0
    first, warm, boot = timed(lambda: js.bootstrap(fit, n, seed=args.seed, progress=False, on_failure="ignore"), 1)

    print(f"[bench_bootstrap] scipy variable projection, {n} resamples over {args.workers} workers ...",
          file=sys.stderr, flush=True)
    W = resample_weights(len(df), n, args.seed)
    lN, lD, ly = log_data(df["N"], df["D"], df["loss"])
    peer = run_isolated("bootstrap", {"lN": lN, "lD": lD, "ly": ly, "W": W}, workers=args.workers)
    pf = np.asarray(peer["objectives"])
    pu = np.asarray(peer["u"])
    jf = np.asarray(boot.objective)
    tol = RTOL * np.minimum(jf, pf)
    peer_draws = {"E": np.exp(pu[:, 0]), "alpha": pu[:, 3], "beta": pu[:, 4]}
    jax_draws = {k: np.asarray(boot.draws[k])[boot.converged] for k in EPOCH_CI}
    out = {
        "benchmark": "chinchilla_bootstrap_vs_vp_pool",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": source, "n_points": len(df), "n_resamples": n, "seed": args.seed,
        "machine": {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "full_data_fit_s": fit_s,
        "jaxscale": {"first_call_s": first, "warm_s": warm, "starts_per_resample": boot.starts_per_resample,
                     "n_converged": boot.n_converged, "intervals_95": _interval(jax_draws)},
        "peer": {"method": "scipy variable projection per resample (32x32 exponent grid, weighted NNLS, "
                           "Nelder-Mead, L-BFGS-B from the 5 best)",
                 "seconds": peer["seconds"], "workers": peer["workers"], "n_success": peer["n_success"],
                 "worker_blas_threads": peer["worker_blas_threads"], "intervals_95": _interval(peer_draws)},
        "per_resample_quality": {
            "rtol": RTOL,
            "n_equal": int(np.sum(np.abs(jf - pf) <= tol)),
            "n_jaxscale_worse": int(np.sum(jf - pf > tol)),
            "n_peer_worse": int(np.sum(pf - jf > tol)),
            "max_rel_excess_jaxscale": float(np.max((jf - pf) / pf)),
            "max_rel_excess_peer": float(np.max((pf - jf) / jf)),
        },
        "epoch_published_ci95": EPOCH_CI,
        "ratio_peer_over_jaxscale_warm": peer["seconds"] / warm,
        "ratio_peer_over_jaxscale_first_call": peer["seconds"] / first,
        "total_wall_s": time.perf_counter() - t_run,
    }
    return emit(out, args.out)


if __name__ == "__main__":
    main()
