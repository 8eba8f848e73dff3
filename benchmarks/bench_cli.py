"""Command-line fit, process start to exit: a cold persistent cache, then warm, then without it.

Writes Epoch AI's 240 Chinchilla points (N, D, loss) to a temporary CSV and runs
``python -m jaxscale fit DATA.csv --law chinchilla --inputs N=N,D=D --no-progress`` in fresh
processes against a fresh cache folder (``JAXSCALE_CACHE_DIR``):

* ``cold``: first call, empty cache (every program compiled and stored);
* ``warm``: the next calls (programs loaded from the cache);
* ``no_cache``: calls with ``--no-cache`` (compiled every time, as before the cache).

Each call's wall time is measured around the subprocess; every call must exit 0 and print the
same objective.

    python -m benchmarks.bench_cli [--repeats 3] [--out benchmarks/results/cli_cpu2_v1.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import ROOT, chinchilla_data, emit, machine


def _run(cmd, env):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stderr[-2000:]}")
    m = re.search(r"^objective:\s*([0-9.eE+-]+)", out.stdout, re.M)
    return wall, float(m.group(1)) if m else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="warm-cache and no-cache calls (default 3)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    load_start = os.getloadavg()
    df, source = chinchilla_data()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "epoch.csv"
        df[["N", "D", "loss"]].to_csv(csv, index=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION")}
        env.update(JAXSCALE_CACHE_DIR=str(Path(tmp) / "xla"), JAX_PLATFORMS="cpu")
        env.pop("JAXSCALE_NO_CACHE", None)
        cmd = [sys.executable, "-m", "jaxscale", "fit", str(csv), "--law", "chinchilla", "--inputs", "N=N,D=D",
               "--no-progress"]
        rows = {"cold": [], "warm": [], "no_cache": []}
        objectives = set()
        for kind, n, extra in (("cold", 1, []), ("warm", args.repeats, []), ("no_cache", args.repeats, ["--no-cache"])):
            for _ in range(n):
                print(f"[bench_cli] {kind} ...", file=sys.stderr, flush=True)
                wall, obj = _run(cmd + extra, env)
                rows[kind].append(wall)
                objectives.add(obj)
        files = list((Path(tmp) / "xla").iterdir())
        cache_mb = sum(f.stat().st_size for f in files) / 2**20
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import jaxscale"], cwd=ROOT, env=env, check=True)
    import_s = time.perf_counter() - t0
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    out = {
        "benchmark": "cli_fit_end_to_end",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m jaxscale fit epoch.csv --law chinchilla --inputs N=N,D=D --no-progress",
        "data": source, "n_points": len(df),
        "machine": {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "cold_cache_s": rows["cold"][0], "warm_cache_s": rows["warm"], "warm_cache_median_s": med(rows["warm"]),
        "no_cache_s": rows["no_cache"], "no_cache_median_s": med(rows["no_cache"]),
        "import_jaxscale_s": import_s, "cache_entries": len(files), "cache_mb": cache_mb,
        "objectives_printed": sorted(o for o in objectives if o is not None),
    }
    return emit(out, args.out)


if __name__ == "__main__":
    main()
