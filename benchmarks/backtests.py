"""Backtests on real model ladders: extrapolation errors and prediction-interval coverage.

For each data set in ../shared/data (read each PROVENANCE.md): fit on the smaller runs, predict
the larger ones with 50/80/90/95% prediction intervals (``kind="observation"``: parameter
uncertainty from the bootstrap plus the run-to-run scatter), and score them with
:func:`jaxscale.backtest`. Published recipes are reproduced where a published number exists:

* ``olmo_ladder`` (Bhagia et al. 2024): two-step recipe -- Chinchilla law on task loss (bpb)
  with summed Huber 1e-3 on the 16 ladder runs, then a 4-parameter sigmoid from task loss to
  accuracy on the smoothed checkpoints -- chained to the 7B-4T and 13B-5T targets with
  :func:`jaxscale.predict_chain`, compared with the published predictions; and a backtest of the
  step-1 law along N on all 25 ladder runs (190M-3B, 0.5-10xC).
* ``datablations`` (Muennighoff et al. 2023): the data-constrained fit of R_D*, R_N* on the 182
  published rows (objective values compared), the README check values, and a backtest along N.
* ``revisiting_nsl_vision`` (Alabdulmohsin et al. 2022, bird_5, MiX/B/16): fit on Training==1,
  RMSE of log on Training==0 for m4, bnsl, hestness and the saturating power law.
* ``overtraining_gadre`` (Gadre et al. 2024) and ``chinchilla_epoch`` (Epoch AI's Chinchilla
  points): backtests along compute C = 6ND.

    python -m benchmarks.backtests                  # all, writes benchmarks/results/backtests_cpu2.{json,md}
    python -m benchmarks.backtests --only olmo --resamples 100
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd

import jaxscale as js

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def shared_data() -> Path:
    for c in (os.environ.get("JAXSCALE_SHARED_DATA"), ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if c and Path(c).is_dir():
            return Path(c)
    raise SystemExit("../shared/data not found (set JAXSCALE_SHARED_DATA)")


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _bt_summary(bt: js.BacktestResult) -> dict:
    d = bt.to_dict()
    return {"table": d["table"], "band": d["band"], "bias_flags": d["bias_flags"], "summary": d["summary"]}


def _coverage90(runs: pd.DataFrame) -> dict:
    runs = runs[runs["lo_0.9"].notna()]  # no interval where too few draws were valid
    hits = runs["in_0.9"].to_numpy(dtype=bool)
    n = hits.shape[0]
    p = float(hits.mean())
    return {"coverage_90": p, "n": n, "binomial_se": math.sqrt(max(p * (1 - p), 1e-12) / n)}


# ---------------------------------------------------------------------------------------------
# OLMo ladder
# ---------------------------------------------------------------------------------------------
OLMO_N = {"190M": 190354176, "370M": 371262464, "760M": 758220288, "1B": 1279395840, "3B": 3169537280}
OLMO_TASKS = ("mmlu_avg_test", "hellaswag_val", "arc_challenge_test", "arc_easy_test", "piqa_val", "csqa_val",
              "socialiqa_val", "openbookqa_test")
MMLU_WEIGHTS = {"stem": 0.215, "humanities": 0.335, "social_sciences": 0.219, "other": 0.231}
OLMO_TARGETS = {"7B-4T": ("peteish7_eval_anneal.csv", 6887575552, 3945065873408.0),
                "13B-5T": ("peteish13_eval_final.csv", 13202396160, 5000088518656.0)}


def _olmo_metric(frame: pd.DataFrame, task: str, kind: str) -> np.ndarray:
    """Per-row task loss (``bpb``) or RC accuracy (``acc``) of one task (MMLU: weighted test average)."""
    def col(t):
        return (f"eval/downstream_bpb/{t}_rc_5shot_bpb" if kind == "bpb"
                else f"eval/downstream/{t}_rc_5shot_len_norm")

    if task == "mmlu_avg_test":
        return sum(w * frame[col(f"mmlu_{k}_test")].to_numpy(float) for k, w in MMLU_WEIGHTS.items())
    return frame[col(task)].to_numpy(float)


def _moving_average(a: np.ndarray, width: int = 5) -> np.ndarray:
    """Trailing mean over ``width`` points, shorter windows for the first ``width - 1``."""
    c = np.cumsum(np.insert(a, 0, 0.0))
    i = np.arange(1, a.shape[0] + 1)
    lo = np.maximum(i - width, 0)
    return (c[i] - c[lo]) / (i - lo)


def olmo_step1_points(root: Path, sizes=("190M", "370M", "760M", "1B"), mults=("1", "2", "5", "10")) -> pd.DataFrame:
    rows = []
    for s in sizes:
        for m in mults:
            f = pd.read_csv(root / "ladder-runs" / f"{s}-{m}xC.csv")
            rec = {"run": f"{s}-{m}xC", "N": float(OLMO_N[s]), "D": float(f["throughput/total_tokens"].iloc[-1]),
                   "mult": float(m)}
            for t in OLMO_TASKS:
                rec[f"bpb_{t}"] = float(np.mean(_olmo_metric(f, t, "bpb")[-5:]))
                rec[f"acc_{t}"] = float(np.mean(_olmo_metric(f, t, "acc")[-5:]))
            rows.append(rec)
    return pd.DataFrame(rows)


def olmo_step2_points(root: Path, task: str) -> pd.DataFrame:
    xs, ys, runs = [], [], []
    for s in ("190M", "370M", "760M", "1B"):
        for m in ("1", "2", "5", "10"):
            f = pd.read_csv(root / "ladder-runs" / f"{s}-{m}xC.csv")
            f = f.iloc[math.ceil(0.1 * len(f)):]
            xs.append(_moving_average(_olmo_metric(f, task, "bpb")))
            ys.append(_moving_average(_olmo_metric(f, task, "acc")))
            runs += [f"{s}-{m}xC"] * len(f)
    x = np.concatenate(xs + [np.zeros(1)])
    y = np.concatenate(ys + [np.ones(1)])  # the anchor: zero task loss, accuracy 1
    return pd.DataFrame({"x": x, "acc": y, "run": runs + ["anchor"]})


def olmo_targets(root: Path) -> dict:
    out = {}
    for name, (fname, n, d) in OLMO_TARGETS.items():
        f = pd.read_csv(root / "ladder-runs" / fname)
        out[name] = {"N": float(n), "D": float(d),
                     **{f"bpb_{t}": float(np.mean(_olmo_metric(f, t, "bpb")[-5:])) for t in OLMO_TASKS},
                     **{f"acc_{t}": float(np.mean(_olmo_metric(f, t, "acc")[-5:])) for t in OLMO_TASKS}}
    return out


@js.law(
    name="olmo_sigmoid",
    inputs=("x",),
    params=(js.Param("a", (-1.0, 0.0), grid=(-0.9, -0.7, -0.4), doc="floor minus ceiling (< 0: accuracy falls as the task loss grows)"),
            js.Param("x0", "positive", grid=(0.5, 0.8, 1.2), doc="midpoint (task loss)"),
            js.Param("k", "positive", grid=(2.0, 5.0, 12.0), doc="steepness"),
            js.Param("b", (0.0, 1.0), grid=(0.6, 0.9, 0.99), doc="ceiling: accuracy as the task loss goes to 0; a + b is the floor")),
    positive_inputs=(),
    formula="Acc(x) = a / (1 + exp(-k (x - x0))) + b",
    citation="Bhagia et al. 2024, 'Establishing Task Scaling Laws via Compute-Efficient Model Ladders', "
             "arXiv:2412.04403 (step 2)",
)
def olmo_sigmoid(p, x):
    """Step 2 of the OLMo ladder: task loss -> accuracy, a 4-parameter sigmoid (a in [-1, 0], b in [0, 1])."""
    return p["a"] / (1.0 + jnp.exp(-p["k"] * (x["x"] - p["x0"]))) + p["b"]


@js.law(
    name="olmo_sigmoid_b1",
    inputs=("x",),
    params=olmo_sigmoid.params[:3],
    positive_inputs=(),
    formula="Acc(x) = a / (1 + exp(-k (x - x0))) + 1",
    citation=olmo_sigmoid.citation,
)
def olmo_sigmoid_b1(p, x):
    """:func:`olmo_sigmoid` with its ceiling ``b`` on the bound 1 (where the published fits of most tasks sit)."""
    return p["a"] / (1.0 + jnp.exp(-p["k"] * (x["x"] - p["x0"]))) + 1.0


@js.law(
    name="chinchilla_no_floor",
    inputs=("N", "D"),
    params=tuple(q for q in js.get_law("chinchilla").params if q.name != "E"),
    formula="L(N, D) = A / N^alpha + B / D^beta",
    citation="Hoffmann et al. 2022 with E = 0",
)
def chinchilla_no_floor(p, x):
    """The Chinchilla law with its floor ``E`` on the bound 0 (CSQA's published step-1 fit sits there)."""
    return p["A"] / x["N"] ** p["alpha"] + p["B"] / x["D"] ** p["beta"]


def _inside(lo, value, hi):
    """Whether ``value`` lies in ``[lo, hi]``; None when there is no interval (too few valid draws)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return bool(lo <= value <= hi)


def _yes(flag) -> str:
    return "n/a" if flag is None else ("yes" if flag else "NO")


def _covered(flags, what: str) -> str:
    """``k/m what`` over the predictions that have an interval, and how many had none."""
    have = [f for f in flags if f is not None]
    none = len(flags) - len(have)
    return f"{sum(have)}/{len(have)} {what}" + (f" ({none} of {len(flags)} had no interval: too few valid draws)"
                                                 if none else "")


def fit_step1(pts: pd.DataFrame, target: str):
    """Chinchilla law, summed Huber 1e-3; when E ends on its bound 0, the same law with E = 0 held there."""
    s1 = _quiet(js.fit, "chinchilla", pts, target=target, loss="huber", delta=1e-3, progress=False)
    if "E" in s1.at_bound:
        s1 = _quiet(js.fit, chinchilla_no_floor, pts, target=target, loss="huber", delta=1e-3, progress=False)
    return s1


def fit_step2(pts: pd.DataFrame):
    """The 4-parameter sigmoid; when its ceiling ends on the bound b = 1, the same law with b = 1 held
    there (the constrained optimum is the same; at the bound the solver cannot certify convergence)."""
    s2 = _quiet(js.fit, olmo_sigmoid, pts, target="acc", loss="squared", progress=False)
    if "b" in s2.at_bound and s2.params["b"] > 0.5:
        s2 = _quiet(js.fit, olmo_sigmoid_b1, pts, target="acc", loss="squared", progress=False)
    return s2


def olmo(root: Path, n_resamples: int, seed: int) -> dict:
    root = root / "olmo_ladder"
    ref = json.loads((root / "reference_results.json").read_text())
    published13 = pd.read_csv(root / "figures" / "chained_main.csv")
    pub1 = pd.read_csv(root / "figures" / "step1_main.csv")
    pub2 = pd.read_csv(root / "figures" / "step2_main.csv")
    fit_pts = olmo_step1_points(root)
    targets = olmo_targets(root)
    tasks = {}
    for i, t in enumerate(OLMO_TASKS):
        s1 = fit_step1(fit_pts, f"bpb_{t}")
        b1 = _quiet(js.bootstrap, s1, n_resamples, seed=seed + i, progress=False)
        pts2 = olmo_step2_points(root, t)
        s2 = fit_step2(pts2)
        b2 = _quiet(js.bootstrap, s2, n_resamples, scheme="cluster", cluster=pts2["run"].to_numpy(),
                    seed=seed + 100 + i, progress=False)
        rec = {"step1": {"law": s1.law.name, "params": s1.params, "objective": s1.objective, "converged": s1.converged,
                         "resamples_converged": f"{b1.n_converged}/{b1.n_resamples}",
                         "at_bound": list(s1.at_bound),
                         "fit_error_mean_abs_rel": float(np.mean(np.abs(s1.predict(s1.data.inputs) / s1.data.y - 1)))},
               "step2": {"law": s2.law.name, "params": s2.params, "objective": s2.objective, "converged": s2.converged,
                         "at_bound": list(s2.at_bound), "n_points": int(s2.data.n),
                         "resamples_converged": f"{b2.n_converged}/{b2.n_resamples}"},
               "targets": {}}
        repro = ref.get("independent_reproduction_not_published", {})
        for name, tg in targets.items():
            x = {"N": [tg["N"]], "D": [tg["D"]]}
            p1 = js.predict(b1, x, level=0.9, kind="observation")
            actual_l, actual_a = tg[f"bpb_{t}"], tg[f"acc_{t}"]
            step2_at_actual = float(s2.predict({"x": np.array([actual_l])})[0])
            ch_mean = js.predict_chain(b1, b2, x, level=0.9, link_input="x")
            ch_obs = js.predict_chain(b1, b2, x, level=0.9, link_input="x", kind="observation", seed=seed)
            acc = float(ch_mean["error"].iloc[0])
            r = {"loss_actual": actual_l, "loss_pred": float(p1["prediction"].iloc[0]),
                 "loss_rel_err": float(p1["prediction"].iloc[0] / actual_l - 1),
                 "loss_obs90": [float(p1["lo"].iloc[0]), float(p1["hi"].iloc[0])],
                 "loss_in_obs90": _inside(p1["lo"].iloc[0], actual_l, p1["hi"].iloc[0]),
                 "acc_actual": actual_a, "step2_pred_at_actual_loss": step2_at_actual,
                 "step2_rel_err": step2_at_actual / actual_a - 1,
                 "chained_pred": acc, "chained_abs_rel_err": abs(acc / actual_a - 1),
                 "chained_abs_err_points": 100 * abs(acc - actual_a),
                 "chained_mean90": [float(ch_mean["error_lo"].iloc[0]), float(ch_mean["error_hi"].iloc[0])],
                 "chained_obs90": [float(ch_obs["error_lo"].iloc[0]), float(ch_obs["error_hi"].iloc[0])],
                 "chained_in_obs90": _inside(ch_obs["error_lo"].iloc[0], actual_a, ch_obs["error_hi"].iloc[0])}
            r["chained_obs90_width_points"] = 100 * (r["chained_obs90"][1] - r["chained_obs90"][0])
            if name == "13B-5T":
                row = published13[published13["Task"].str.startswith(t)]
                r1 = pub1[pub1["Task"].str.startswith(t)]
                r2 = pub2[pub2["Task"].str.startswith(t)]
                if len(row):
                    r["published_chained_pred"] = float(row["Pred"].iloc[0])
                    r["published_chained_abs_rel_err"] = float(row["Rel Error"].iloc[0])
                if len(r1):
                    r["published_loss_pred"] = float(r1["Pred"].iloc[0])
                if len(r2):
                    r["published_step2_pred"] = float(r2["Pred"].iloc[0])
            rec["targets"][name] = r
        tasks[t] = rec
        print(f"  olmo {t}: 13B chained {tasks[t]['targets']['13B-5T']['chained_pred']:.4f} "
              f"(actual {tasks[t]['targets']['13B-5T']['acc_actual']:.4f}, published "
              f"{tasks[t]['targets']['13B-5T'].get('published_chained_pred', float('nan')):.4f})", flush=True)
    return {"tasks": tasks, **olmo_backtest(root.parent, n_resamples, seed)}


def olmo_backtest(root: Path, n_resamples: int, seed: int) -> dict:
    """Backtest of OLMo step 1 along N on all 25 ladder runs (0.5-10xC, 190M-3B): hold out 3B, then 1B and 3B."""
    root = root / "olmo_ladder"
    ladder = olmo_step1_points(root, sizes=tuple(OLMO_N), mults=("0.5", "1", "2", "5", "10"))
    bts, all_runs = {}, []
    for i, t in enumerate(OLMO_TASKS):
        bt = _quiet(js.backtest, "chinchilla", ladder, along="N", target=f"bpb_{t}", ks=(1, 2), method="bootstrap",
                    n_resamples=n_resamples, seed=seed + i, progress=False)
        bts[t] = _bt_summary(bt)
        all_runs.append(bt.runs.assign(task=t))
    runs = pd.concat(all_runs)
    return {"backtest_step1_along_N": bts, "backtest_pooled": _coverage90(runs),
            "backtest_pooled_abs_rel_err": float(np.mean(np.abs(runs["rel_err"])))}


# ---------------------------------------------------------------------------------------------
# datablations
# ---------------------------------------------------------------------------------------------
def datablations(root: Path, n_resamples: int, seed: int) -> dict:
    root = root / "datablations"
    ref = json.loads((root / "reference_fits.json").read_text())
    frame = pd.read_csv(root / "datablations_val_losses.csv")
    rows = frame[frame["in_fit_set_182"] == 1].reset_index(drop=True)
    c4 = ref["c4_chinchilla_coefficients"]
    ab = c4["log_space"]["alpha"]
    fixed = {"E": c4["derived_float64"]["E"], "A": c4["derived_float64"]["A"], "B": c4["derived_float64"]["B"],
             "alpha": ab, "beta": ab}
    law = js.laws.make_data_constrained(fixed=fixed, name="data_constrained_c4")
    pub = ref["data_constrained_fit"]
    pub_params = {"R_D": pub["R_D_star"], "R_N": pub["R_N_star"]}
    obj = js.huber(1e-3)
    x = {k: rows[k].to_numpy(float) for k in ("N", "D", "U")}

    def objective(params):
        with _x64():
            out = np.asarray(law.log_predict({k: jnp.asarray(v) for k, v in params.items()},
                                             {k: jnp.asarray(v) for k, v in x.items()}))
        return float(np.sum(obj.rho(np.log(rows["loss"].to_numpy()) - out)))

    grid = np.linspace(0, 20, 4)[1:]  # the notebook's grid without its 0 (NaN there)
    nb_starts = {"R_D": np.repeat(grid, 3), "R_N": np.tile(grid, 3)}
    f_nb = _quiet(js.fit, law, rows, inputs=None, target="loss", starts=nb_starts, progress=False)
    wide = {"R_D": np.repeat(np.geomspace(1, 300, 12), 12), "R_N": np.tile(np.geomspace(0.3, 300, 12), 12)}
    f_wide = _quiet(js.fit, law, rows, target="loss", starts=wide, progress=False)
    boot = _quiet(js.bootstrap, f_nb, n_resamples, seed=seed, progress=False)
    ci = boot.interval(level=0.95)
    names = list(law.param_names)
    checks = {}
    for key, (n, d, u) in {"L(6.34e9, 242e9, 25e9)": (6.34e9, 242e9, 25e9),
                           "L(8.67e9, 178e9, 25e9)": (8.67e9, 178e9, 25e9)}.items():
        with _x64():
            val = float(law.predict({k: jnp.asarray(v) for k, v in pub_params.items()},
                                    {"N": jnp.asarray(n), "D": jnp.asarray(d), "U": jnp.asarray(u)}))
        checks[key] = {"ours": val, "published": ref["readme_formula_checks"][key],
                       "rel_diff": val / ref["readme_formula_checks"][key] - 1}
    bt = _quiet(js.backtest, law, rows, along="N", ks=(1, 2, 3), method="bootstrap", n_resamples=n_resamples,
                seed=seed, fit_kwargs={"starts": nb_starts}, progress=False)
    return {"n_rows": int(len(rows)),
            "published": {"params": pub_params, "objective_float64": objective(pub_params),
                          "objective_notebook_float32": pub["notebook_objective_float32"]},
            "ours_notebook_grid": {"params": f_nb.params, "objective": f_nb.objective, "converged": f_nb.converged},
            "ours_wide_grid": {"params": f_wide.params, "objective": f_wide.objective, "converged": f_wide.converged,
                               "n_starts": f_wide.n_starts},
            "second_optimum_reported": pub["second_lower_optimum_not_published"],
            "bootstrap_ci95": {k: [float(ci[i, 0]), float(ci[i, 1])] for i, k in enumerate(names)},
            "bootstrap_converged": f"{boot.n_converged}/{boot.n_resamples}",
            "readme_checks": checks,
            "backtest_along_N": _bt_summary(bt), "backtest_coverage": _coverage90(bt.runs)}


def _x64():
    return js.precision(np.float64)


# ---------------------------------------------------------------------------------------------
# Revisiting neural scaling laws (vision excerpt)
# ---------------------------------------------------------------------------------------------
def nsl_vision(root: Path, n_resamples: int, seed: int) -> dict:
    df = pd.read_csv(root / "revisiting_nsl_vision" / "benchmark.vision.excerpt_IC_bird_5_MiX-B-16.csv")
    df = df.rename(columns={"Seen Examples": "x", "Loss": "loss"})
    top = float(df.loc[df["Training"] == 1, "x"].max())
    assert (df.loc[df["Training"] == 0, "x"] > top).all() and (df.loc[df["Training"] == 1, "x"] <= top).all()
    out = {"n_train": int((df["Training"] == 1).sum()), "n_test": int((df["Training"] == 0).sum()),
           "unpublished_sanity_M1_rmse": 0.082668, "laws": {}}
    for i, name in enumerate(("m4", "bnsl", "hestness", "saturating_power_law", "power_law")):
        bt = _quiet(js.backtest, name, df, along="x", cutoffs=[top], loss="squared_log", method="bootstrap",
                    n_resamples=n_resamples, seed=seed + i, progress=False)
        o = bt.table().loc["overall"]
        fit = bt.results[top].fit
        out["laws"][name] = {"rmse_log_test": float(o["rmse_log"]), "abs_rel_err": float(o["abs_rel_err"]),
                             "bias": float(o["bias"]), "cover_90": float(o["cover_90"]),
                             "status": bt.cutoffs["status"].iloc[0], "params": fit.params,
                             "summary": bt.summary()}
        print(f"  nsl_vision {name}: RMSE log {o['rmse_log']:.4f}", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# Gadre et al. over-training
# ---------------------------------------------------------------------------------------------
def gadre(root: Path, n_resamples: int, seed: int) -> dict:
    frame = pd.read_csv(root / "overtraining_gadre" / "models_losses_downstream.csv")
    frame = frame.rename(columns={"N_params": "N", "D_tokens": "D", "flops_6ND": "C"})
    out = {}
    for i, ds in enumerate(("rpj", "c4_original", "rw_original")):
        d = frame[frame["dataset"] == ds].reset_index(drop=True)
        small = d["model"].isin(["d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8"])
        fit_set = d[(small & (d["chinchilla_multiplier"] == 1)) |
                    ((d["model"] == "d=96_l=8_h=4") & (d["chinchilla_multiplier"] == 16))]
        f = _quiet(js.fit, "overtraining", fit_set, target="loss_c4_val", loss="squared", progress=False)
        rec = {"published_recipe_fit": {"params": f.params, "n_points": int(len(fit_set)), "converged": f.converged}}
        for key, (model, mult) in {"1b_M640": ("open_lm_1b", 32), "7b_M20": ("open_lm_7b", 1)}.items():
            row = d[(d["model"] == model) & (d["chinchilla_multiplier"] == mult)]
            if len(row):
                pred = float(f.predict({"N": row["N"].to_numpy(float), "D": row["D"].to_numpy(float)})[0])
                rec[key] = {"pred": pred, "actual": float(row["loss_c4_val"].iloc[0]),
                            "rel_err": abs(pred / float(row["loss_c4_val"].iloc[0]) - 1)}
        if ds == "rpj":
            rec["published_rel_err"] = {"1b_M640": 0.007103, "7b_M20": 0.007320}
        bt = _quiet(js.backtest, "overtraining", d, along="C", scheme="expanding", n_cutoffs=3,
                    target="loss_c4_val", loss="squared", method="bootstrap", n_resamples=n_resamples,
                    seed=seed + i, progress=False)
        rec["backtest_along_C"] = _bt_summary(bt)
        rec["backtest_coverage"] = _coverage90(bt.runs)
        out[ds] = rec
        print(f"  gadre {ds}: {bt.summary().splitlines()[1].strip()}", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# Chinchilla (Epoch AI's reconstruction)
# ---------------------------------------------------------------------------------------------
def chinchilla(root: Path, n_resamples: int, seed: int) -> dict:
    df = pd.read_csv(root / "chinchilla_epoch" / "svg_extracted_data.csv")
    df = df[df["loss"] < sorted(df["loss"])[-5]].copy()  # Epoch's 240 points
    df["N"] = df["Model Size"]
    df["C"] = df["Training FLOP"]
    df["D"] = df["C"] / (6 * df["N"])
    bt = _quiet(js.backtest, "chinchilla", df, along="C", cutoffs=[1e20, 3e20, 1e21], method="bootstrap",
                n_resamples=n_resamples, seed=seed, progress=False)
    print(f"  chinchilla: {bt.summary().splitlines()[1].strip()}", flush=True)
    return {"n_rows": int(len(df)), "backtest_along_C": _bt_summary(bt), "backtest_coverage": _coverage90(bt.runs)}


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
RUNNERS = {"olmo": olmo, "olmo_backtest": olmo_backtest, "datablations": datablations, "nsl_vision": nsl_vision, "gadre": gadre,
           "chinchilla": chinchilla}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(RUNNERS))
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "backtests_cpu2.json"))
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md table from the JSON in --out")
    args = ap.parse_args(argv)
    root = shared_data()
    if args.markdown_only:
        report = json.loads(Path(args.out).read_text())
        Path(args.out).with_suffix(".md").write_text(markdown(report, root))
        print(markdown(report, root))
        return
    names = [n for n in RUNNERS if n != "olmo_backtest"] if args.only is None else [s.strip() for s in args.only.split(",")]
    report = {"resamples": args.resamples, "seed": args.seed, "jaxscale": js.__version__, "data": {},
              "measured_at": _measured_at()}
    if os.path.exists(args.out) and args.only:
        report = json.loads(Path(args.out).read_text())
    for name in names:
        t0 = time.perf_counter()
        print(f"{name} ...", flush=True)
        out = {**RUNNERS[name](root, args.resamples, args.seed), "seconds": time.perf_counter() - t0}
        if name == "olmo_backtest":  # only the step-1 backtest of the OLMo entry
            report["data"].setdefault("olmo", {}).update({k: v for k, v in out.items() if k != "seconds"})
        else:
            report["data"][name] = out
        Path(args.out).write_text(json.dumps(report, indent=2, default=float))
    Path(args.out).with_suffix(".md").write_text(markdown(report, root))
    print(markdown(report, root))


VARIANCE_NAMES = {"mmlu_avg_test": "MMLU", "hellaswag_val": "HellaSwag", "arc_challenge_test": "ARC-Challenge",
                  "arc_easy_test": "ARC-Easy", "piqa_val": "PIQA", "csqa_val": "CommonsenseQA",
                  "socialiqa_val": "Social IQa", "openbookqa_test": "OpenBookQA"}


def _pct(v, digits=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{100 * v:.0f}%" if digits == 2 and abs(v) >= 0.1 else f"{100 * v:.{digits}g}%"


def _bt_rows(name: str, bt: dict) -> list[str]:
    out = []
    for cut, row in bt["table"].items():
        n_fit = "" if row["n_train"] is None else int(row["n_train"])
        out.append(f"| {name} | {cut} | {n_fit} | {row['n_test']} | "
                   f"{row['decades_max']:.2f} | {_pct(row['abs_rel_err'])} | {_pct(row['bias'])} | "
                   f"{row['rmse_log']:.4f} | {_pct(row['cover_50'], 2)} | {_pct(row['cover_90'], 2)} | "
                   f"{_pct(row['cover_95'], 2)} | {row['mean_z']:+.2f} | {row['status']} |")
    return out


BT_HEAD = ["| data / law | cutoff | n fit | n held out | max decades | mean abs rel err | signed bias | RMSE log | "
           "cover 50% | cover 90% | cover 95% | mean z | status |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]


def _measured_at() -> str:
    """The commit and the machine's load, for the report's header."""
    import subprocess

    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        rev += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown commit"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"jaxscale at {rev}; 2-core CPU, load average {load} at the start"


def markdown(report: dict, root: Path | None = None) -> str:
    lines = ["# Backtests on real ladders (measured; `python -m benchmarks.backtests`)", "",
             f"Bootstrap resamples per fit: {report['resamples']}, seed {report['seed']}, jaxscale "
             f"{report['jaxscale']}. Coverage columns: share of held-out runs inside the **prediction** "
             "intervals (`kind=\"observation\"`: bootstrap parameter draws plus the fitted run-to-run scatter, "
             "robust 1.4826*MAD for Huber fits). `mean z`: mean standardised error (actual above prediction > 0); "
             "|mean z| > 2 is flagged as a systematic bias.", ""]
    if "measured_at" in report:
        lines += [f"Measured with {report['measured_at']}.", ""]
    data = report["data"]
    if "olmo" in data:
        o = data["olmo"]
        var = None
        if root is not None:
            var = pd.read_csv(root / "olmo_ladder" / "figures" / "variance.csv").set_index("Task")
        lines += ["## OLMo ladder (Bhagia et al. 2024): two-step recipe chained to the targets", "",
                  "Step 1: Chinchilla law on task loss (bpb), summed Huber 1e-3, 16 runs; step 2: 4-parameter sigmoid "
                  "task loss -> accuracy on the smoothed checkpoints (1,401 points + anchor), cluster bootstrap over runs. "
                  "`obs 90%`: prediction interval of the chained accuracy (loss scatter propagated through the link "
                  "plus the link's own scatter).", "",
                  "| task | target | actual acc | ours | abs rel err | published | published abs rel err | "
                  "ours obs 90% | inside | loss rel err (ours) | loss inside obs 90% |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for t, rec in o["tasks"].items():
            for name, r in rec["targets"].items():
                if name == "13B-5T":
                    pub, pub_err = f"{r.get('published_chained_pred', float('nan')):.4f}", _pct(r.get("published_chained_abs_rel_err"))
                else:
                    pub = "n/a"
                    pub_err = _pct(float(var.loc[VARIANCE_NAMES[t], "7B Stacked Rel Error"])) if var is not None else "n/a"
                lo, hi = r["chained_obs90"]
                lines.append(f"| {t} | {name} | {r['acc_actual']:.4f} | {r['chained_pred']:.4f} | "
                             f"{_pct(r['chained_abs_rel_err'])} | {pub} | {pub_err} | [{lo:.3f}, {hi:.3f}] | "
                             f"{_yes(r['chained_in_obs90'])} | {_pct(r['loss_rel_err'])} | "
                             f"{_yes(r['loss_in_obs90'])} |")
        inside = [r["chained_in_obs90"] for rec in o["tasks"].values() for r in rec["targets"].values()]
        linside = [r["loss_in_obs90"] for rec in o["tasks"].values() for r in rec["targets"].values()]
        lines += ["", f"Chained 90% prediction intervals cover {_covered(inside, 'target accuracies')}; "
                  f"step-1 90% prediction intervals cover {_covered(linside, 'target task losses')}.", "",
                  "Step-1 backtest along N on all 25 ladder runs (190M-3B x 0.5-10xC; hold out 3B, then 1B and 3B):", ""]
        lines += BT_HEAD
        for t, bt in o["backtest_step1_along_N"].items():
            lines += _bt_rows(f"olmo {t}", bt)
        c = o["backtest_pooled"]
        lines += ["", f"Pooled over tasks and cutoffs: 90% prediction intervals cover {_pct(c['coverage_90'])} of "
                  f"{c['n']} held-out predictions (binomial SE {_pct(c['binomial_se'], 2)}); mean abs rel err "
                  f"{_pct(o['backtest_pooled_abs_rel_err'])}.", ""]
    if "datablations" in data:
        d = data["datablations"]
        lines += ["## datablations (Muennighoff et al. 2023): data-constrained fit on the 182 published rows", "",
                  "C4 Chinchilla coefficients fixed (a, b, e, alpha = beta from the notebook); R_D*, R_N* fitted with "
                  "summed Huber 1e-3.", "",
                  "| fit | R_D* | R_N* | objective |", "|---|---|---|---|",
                  f"| published | {d['published']['params']['R_D']:.6g} | {d['published']['params']['R_N']:.6g} | "
                  f"{d['published']['objective_float64']:.10g} (float64; notebook float32 "
                  f"{d['published']['objective_notebook_float32']:.10g}) |",
                  f"| ours, notebook grid | {d['ours_notebook_grid']['params']['R_D']:.6g} | "
                  f"{d['ours_notebook_grid']['params']['R_N']:.6g} | {d['ours_notebook_grid']['objective']:.10g} "
                  f"(converged: {d['ours_notebook_grid']['converged']}) |",
                  f"| ours, wide grid ({d['ours_wide_grid']['n_starts']} starts) | "
                  f"{d['ours_wide_grid']['params']['R_D']:.6g} | {d['ours_wide_grid']['params']['R_N']:.6g} | "
                  f"{d['ours_wide_grid']['objective']:.10g} (converged: {d['ours_wide_grid']['converged']}) |",
                  f"| provenance's Nelder-Mead optimum | {d['second_optimum_reported']['R_D_star']:.6g} | "
                  f"{d['second_optimum_reported']['R_N_star']:.6g} | {d['second_optimum_reported']['objective']:.10g} |",
                  "", "95% bootstrap intervals (the flatness): R_D* [{:.3g}, {:.3g}], R_N* [{:.3g}, {:.3g}] ({} resamples "
                  "converged).".format(*d["bootstrap_ci95"]["R_D"], *d["bootstrap_ci95"]["R_N"],
                                       d["bootstrap_converged"]), "",
                  "README check values with the published parameters: " + "; ".join(
                      f"{k} = {v['ours']:.16g} (published {v['published']:.16g})" for k, v in d["readme_checks"].items()),
                  ""]
        lines += BT_HEAD + _bt_rows("datablations along N", d["backtest_along_N"]) + [""]
    if "nsl_vision" in data:
        n = data["nsl_vision"]
        lines += ["## Revisiting neural scaling laws (bird_5, MiX/B/16): fit Training==1, score Training==0", "",
                  f"{n['n_train']} fitted rows, {n['n_test']} held-out rows; squared log error; RMSE of log error on the "
                  f"held-out rows (the paper's metric). power_law = M1 (provenance sanity value "
                  f"{n['unpublished_sanity_M1_rmse']}).", "",
                  "| law | RMSE log (held out) | mean abs rel err | signed bias | cover 90% | status |",
                  "|---|---|---|---|---|---|"]
        for law, r in n["laws"].items():
            lines.append(f"| {law} | {r['rmse_log_test']:.5f} | {_pct(r['abs_rel_err'])} | {_pct(r['bias'])} | "
                         f"{_pct(r['cover_90'], 2)} | {r['status']} |")
        lines.append("")
    if "gadre" in data:
        lines += ["## Over-training (Gadre et al. 2024): published recipe and backtests along C = 6ND", ""]
        gad = {k: v for k, v in data["gadre"].items() if isinstance(v, dict)}
        for ds, rec in gad.items():
            pub = rec.get("published_rel_err", {})
            for key in ("1b_M640", "7b_M20"):
                if key in rec:
                    lines.append(f"- {ds} {key}: predicted C4 loss {rec[key]['pred']:.4f}, actual "
                                 f"{rec[key]['actual']:.4f}, abs rel err {_pct(rec[key]['rel_err'])}"
                                 + (f" (published {_pct(pub[key])})" if key in pub else ""))
        lines += [""] + BT_HEAD
        for ds, rec in gad.items():
            lines += _bt_rows(f"gadre {ds}", rec["backtest_along_C"])
        lines.append("")
    if "chinchilla" in data:
        c = data["chinchilla"]
        lines += ["## Chinchilla (Epoch AI's 240 points): backtest along C", ""] + BT_HEAD
        lines += _bt_rows("chinchilla", c["backtest_along_C"]) + [""]
    cov = []
    for name, rec in data.items():
        for key in ("backtest_pooled", "backtest_coverage"):
            if key in rec:
                cov.append((name, rec[key]))
        if name == "gadre":
            cov += [(f"gadre {ds}", r["backtest_coverage"]) for ds, r in rec.items() if isinstance(r, dict)]
    if cov:
        lines += ["## Coverage of the 90% prediction intervals on held-out larger runs", "",
                  "| data set | coverage | held-out predictions | binomial SE |", "|---|---|---|---|"]
        lines += [f"| {n} | {_pct(c['coverage_90'])} | {c['n']} | {_pct(c['binomial_se'], 2)} |" for n, c in cov]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
