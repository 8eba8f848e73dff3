"""Command line: ``jaxscale fit``, ``jaxscale optimal``, ``jaxscale backtest``, ``jaxscale demo``.

Errors in the input exit with status 2 and a one-line message on stderr, no traceback; with
``--on-failure raise`` a failed fit (best start not converged, parameter on a bound, failed
resamples, bad r-hat) exits with status 3. Warnings are printed as one line each.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from ._bootstrap import bootstrap
from ._cache import cache_disabled_by_env, enable_compilation_cache
from ._data import EPOCH_PARAMS, parse_mapping, synthetic_chinchilla
from ._extrapolate import compute_optimal, predict
from ._fit import fit
from ._io import write_json
from ._status import ConvergenceError
from .laws import list_laws

__all__ = ["main"]


def _parse_starts(text: str | None):
    if text is None or text == "grid":
        return None, None
    kind, _, n = text.partition(":")
    if kind not in ("halton", "random") or not n.isdigit():
        raise ValueError(f"--starts must be 'grid', 'halton:N' or 'random:N', got {text!r}")
    return kind, int(n)




def _fit_from_args(args):
    kind, n = _parse_starts(args.starts)
    return fit(args.law, args.data, inputs=parse_mapping(args.inputs), target=args.target, weights=args.weights,
               group=getattr(args, "group", None), loss=args.loss, delta=args.delta, solver=args.solver, starts=kind,
               n_starts=n, n_steps=args.n_steps, seed=args.seed, progress=not args.no_progress,
               on_failure=args.on_failure)


def _uncertainty_from_args(args, result):
    """Bootstrap (--bootstrap N) or NUTS (--method nuts) on top of the point fit, or neither."""
    if args.method == "nuts":
        if args.bootstrap:
            raise ValueError("choose either --bootstrap or --method nuts, not both")
        from ._bayes import bayes_fit

        post = bayes_fit(result.law, args.data, inputs=parse_mapping(args.inputs), target=args.target,
                         weights=args.weights, likelihood=args.likelihood, delta=args.delta, chains=args.chains,
                         warmup=args.warmup, samples=args.samples, seed=args.seed, init=result, level=args.level,
                         progress=not args.no_progress, on_failure=args.on_failure)
        if args.save_idata:
            post.to_netcdf(args.save_idata)
        return post
    return _bootstrap_from_args(args, result)


def _bootstrap_from_args(args, result):
    if not args.bootstrap:
        return result
    cluster = None
    if args.cluster is not None:
        frame = pd.read_csv(args.data)
        if result.law.input_builder is not None:  # one data point per built row (e.g. per evaluated step)
            built = result.law.build_inputs(frame, target=args.target)
            frame = pd.DataFrame({k: v for k, v in built.items() if v.ndim == 1})
        if args.cluster not in frame.columns:
            raise ValueError(f"unknown cluster column {args.cluster!r}; available columns: {list(frame.columns)}")
        cluster = frame[args.cluster].to_numpy()
    return bootstrap(result, args.bootstrap, scheme="cluster" if cluster is not None else args.scheme,
                     cluster=cluster, seed=args.seed, level=args.level, progress=not args.no_progress,
                     on_failure=args.on_failure)


def _parse_points(text: str) -> dict:
    out = {}
    for name, values in parse_mapping(text).items():
        try:
            out[name] = [float(v) for v in values.split(";")]
        except ValueError:
            raise ValueError(f"--predict values must be numbers (use ; between several), got {values!r}") from None
    return out


def _cmd_fit(args) -> int:
    result = _fit_from_args(args)
    if args.group is not None:
        if args.bootstrap:
            raise ValueError("--bootstrap with --group is not supported yet; bootstrap each group's CSV")
        if args.method == "nuts":
            raise ValueError("--method nuts with --group is not supported yet; fit each group's CSV")
        for key, r in result.fits.items():
            print(f"== {args.group} = {key}")
            print(r.summary())
            print()
        payload = result.to_dict()
    else:
        result = _uncertainty_from_args(args, result)
        print(result.summary())
        payload = result.to_dict()
        if args.predict:
            table = predict(result, _parse_points(args.predict), level=args.level)
            print("\npredictions:")
            print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
            payload["predictions"] = table.to_dict(orient="records")
    if args.json:
        write_json(args.json, payload)
    _save_from_args(args, result)
    _plot_from_args(args, result)
    return 0


def _plot_from_args(args, result, **kwargs) -> None:
    """--plot PATH: data, fitted law and its band (jaxscale.plots.plot_fit), written to PATH."""
    if getattr(args, "plot", None):
        if getattr(args, "group", None) is not None:
            raise ValueError("--plot with --group is not supported; fit each group's CSV")
        from ._plots import plot_fit

        plot_fit(result, save=args.plot, **kwargs)
        print(f"\nplot written to {args.plot}")


def _save_from_args(args, result) -> None:
    """--save PATH: the result (point fit JSON, bootstrap or posterior netCDF), see jaxscale.io."""
    if getattr(args, "save", None):
        if args.group is not None:
            raise ValueError("--save with --group is not supported; fit each group's CSV")
        from ._io import save

        save(result, args.save)


def _cmd_optimal(args) -> int:
    result = _uncertainty_from_args(args, _fit_from_args(args))
    table = compute_optimal(result, args.compute, level=args.level)
    print(result.summary())
    print("\ncompute-optimal allocation (C = 6 N D):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.json:
        write_json(args.json, {**result.to_dict(), "optimal": table.to_dict(orient="records")})
    return 0


def _cmd_demo(args) -> int:
    df = synthetic_chinchilla(seed=args.seed)
    print("Embedded synthetic Chinchilla-style data: 135 isoFLOP points generated from Epoch AI's published "
          "parameters (E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658) with 1% log-normal noise.\n")
    result = fit("chinchilla", df, target="loss", progress=not args.no_progress)
    boot = bootstrap(result, args.bootstrap, seed=args.seed, progress=not args.no_progress)
    print(boot.summary())
    truth = ", ".join(f"{k}={v:g}" for k, v in EPOCH_PARAMS.items())
    print(f"\ngenerating values: {truth}. The intervals are for this one noisy draw (--seed changes it); "
          "a 95% interval misses the generating value in about 1 draw in 20.")
    table = compute_optimal(boot, [1e21, 1e22, 1e23, 1e24, 1e25])
    print("\ncompute-optimal allocation (C = 6 N D), 95% bootstrap intervals:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.json:
        write_json(args.json, {**boot.to_dict(), "optimal": table.to_dict(orient="records")})
    _plot_from_args(args, boot, extrapolate_to=1e24)
    return 0


def _along_arg(text: str):
    """A column (or input) name as is; anything else is a pandas expression over columns, e.g. ``6*N*D``."""
    if text.isidentifier():
        return text

    def scale(frame):
        return frame.eval(text).to_numpy(dtype=float)

    scale.__name__ = text
    return scale


def _cmd_backtest(args) -> int:
    from ._backtest import backtest

    ks = tuple(int(k) for k in args.ks.split(",") if k.strip())
    bt = backtest(args.law, args.data, along=_along_arg(args.along), scheme=args.scheme, ks=ks, cutoffs=args.cutoffs,
                  n_cutoffs=args.n_cutoffs, method=args.method, inputs=args.inputs, target=args.target,
                  weights=args.weights, loss=args.loss, delta=args.delta, n_resamples=args.resamples, seed=args.seed,
                  progress=not args.no_progress)
    table = bt.table()
    print(f"prediction intervals: {bt.band}\n")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print()
    print(bt.summary())
    if args.json:
        write_json(args.json, bt.to_dict())
    if args.plot:
        from ._plots import plot_backtest

        plot_backtest(bt, save=args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def _add_fit_args(f) -> None:
    f.add_argument("data", help="CSV file with one row per training run")
    f.add_argument("--law", default="chinchilla", help=f"law name ({', '.join(sorted(list_laws()))})")
    f.add_argument("--inputs", default=None, help="law inputs to columns, e.g. N=params,D=tokens")
    f.add_argument("--target", default="loss", help="column with the observed loss (default: loss)")
    f.add_argument("--weights", default=None, help="optional column of per-point weights")
    f.add_argument("--loss", default="huber", choices=["huber", "squared_log", "squared"])
    f.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default 1e-3)")
    f.add_argument("--solver", default="lm", choices=["lm", "newton", "adam", "lbfgs"])
    f.add_argument("--starts", default=None, help="grid (default), halton:N or random:N")
    f.add_argument("--n-steps", type=int, default=None, help="solver iterations")
    f.add_argument("--seed", type=int, default=0, help="seed for starts and bootstrap draws")
    f.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples (0: none)")
    f.add_argument("--scheme", default="iid", choices=["iid", "residual"], help="bootstrap scheme")
    f.add_argument("--cluster", default=None, metavar="COL", help="cluster bootstrap over this column")
    f.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    f.add_argument("--method", default="point", choices=["point", "nuts"],
                   help="nuts: Bayesian fit with NumPyro NUTS (credible intervals, r_hat, ess_bulk)")
    f.add_argument("--likelihood", default="gaussian", choices=["gaussian", "student_t", "huber"],
                   help="NUTS likelihood on log residuals")
    f.add_argument("--chains", type=int, default=4)
    f.add_argument("--warmup", type=int, default=1000)
    f.add_argument("--samples", type=int, default=1000)
    f.add_argument("--save-idata", default=None, metavar="PATH.nc", help="save the NUTS InferenceData (netCDF)")
    f.add_argument("--json", default=None, help="write a JSON summary here")
    f.add_argument("--no-progress", action="store_true", help="hide progress bars")
    f.add_argument("--on-failure", default="warn", choices=["warn", "raise", "ignore"],
                   help="non-converged fit, parameter on a bound, failed resamples, bad r_hat: warn (default), "
                        "raise (exit 3) or ignore")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxscale", description="Fast scaling-law fits with honest uncertainty.")
    sub = parser.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a law to a CSV file")
    _add_fit_args(f)
    f.add_argument("--group", default=None, help="fit one law per value of this column")
    f.add_argument("--predict", default=None, metavar="N=..,D=..",
                   help="predict at these inputs (several values separated by ;)")
    f.add_argument("--save", default=None, metavar="PATH",
                   help="save the result to load later with jaxscale.load (fit: JSON; bootstrap, NUTS: netCDF)")
    f.add_argument("--plot", default=None, metavar="PATH.png", help="plot the data, the fit and its band to PATH")
    f.set_defaults(func=_cmd_fit)

    o = sub.add_parser("optimal", help="compute-optimal N and D for a compute budget")
    _add_fit_args(o)
    o.add_argument("--compute", type=float, nargs="+", required=True, help="compute budget(s) in FLOP")
    o.set_defaults(func=_cmd_optimal)

    b = sub.add_parser("backtest", help="fit the smaller runs, predict the larger ones: errors and interval coverage")
    b.add_argument("data", help="CSV file with one row per training run")
    b.add_argument("--law", default="chinchilla", help=f"law name ({', '.join(sorted(list_laws()))})")
    b.add_argument("--along", required=True,
                   help="scale to cut along: a column or law input (e.g. C, N), or an expression such as 6*N*D")
    b.add_argument("--inputs", default=None, help="law inputs to columns, e.g. N=params,D=tokens")
    b.add_argument("--target", default="loss", help="column with the observed loss (default: loss)")
    b.add_argument("--weights", default=None, help="optional column of per-point weights")
    b.add_argument("--loss", default="huber", choices=["huber", "squared_log", "squared"])
    b.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default 1e-3)")
    b.add_argument("--scheme", default="leave_largest", choices=["leave_largest", "expanding"])
    b.add_argument("--ks", default="1,2,3", help="leave_largest: hold out the k largest scale values, for each k")
    b.add_argument("--cutoffs", type=float, nargs="+", default=None, help="explicit cutoffs (fit runs <= cutoff)")
    b.add_argument("--n-cutoffs", type=int, default=3, help="expanding: number of cutoffs")
    b.add_argument("--method", default="bootstrap", choices=["point", "bootstrap", "nuts"],
                   help="uncertainty of each fit (default bootstrap)")
    b.add_argument("--resamples", type=int, default=200, help="bootstrap resamples per cutoff")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", default=None, help="write the tables and summary as JSON here")
    b.add_argument("--plot", default=None, metavar="PATH.png", help="predicted vs actual, one panel per cutoff")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")
    b.set_defaults(func=_cmd_backtest)

    d = sub.add_parser("demo", help="refit the Chinchilla law on the embedded synthetic data")
    d.add_argument("--seed", type=int, default=0, help="seed of the synthetic noise and the bootstrap")
    d.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    d.add_argument("--json", default=None, help="write a JSON summary here")
    d.add_argument("--plot", default=None, metavar="PATH.png", help="plot the fit extrapolated to 1e24 FLOP to PATH")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    d.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    parser.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache "
                        "(default: on, in ~/.cache/jaxscale/xla; also off with JAXSCALE_NO_CACHE=1)")
    argv = list(sys.argv[1:] if argv is None else argv)
    no_cache = "--no-cache" in argv  # accepted before or after the subcommand
    args = parser.parse_args([a for a in argv if a != "--no-cache"])
    if not (no_cache or cache_disabled_by_env()):
        enable_compilation_cache()  # compile each program once per machine (see jaxscale/_cache.py)

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"jaxscale: warning: {' '.join(str(message).split())}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning
            return args.func(args)
    except ConvergenceError as err:  # --on-failure raise
        print(f"jaxscale: failed: {' '.join(str(err).split())}", file=sys.stderr)
        return 3
    except (ValueError, OSError, RuntimeError) as err:
        print(f"jaxscale: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
