"""Regenerate the README's figures and its table of built-in laws.

    python notebooks/make_readme_assets.py figures   # notebooks/figures/*.png from the demo data
    python notebooks/make_readme_assets.py table     # print the laws table (Markdown)
    python notebooks/make_readme_assets.py readme    # rewrite the table between the markers in README.md

The table lists every law in ``jaxscale.list_laws()`` (so newly registered zoo laws appear) with
its formula and citation. The figures come from the same data and settings as ``jaxscale demo``
(embedded synthetic Chinchilla data, full start grid), with 1,000 bootstrap resamples.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- laws-table:start -->", "<!-- laws-table:end -->"


def laws_table() -> str:
    import jaxscale as js

    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|") or "-"

    rows = ["| name | inputs | formula | citation |", "|---|---|---|---|"]
    for name, law in sorted(js.list_laws().items()):
        rows.append(f"| `{name}` | {', '.join(law.inputs)} | `{cell(law.formula)}` | {cell(law.citation)} |")
    return "\n".join(rows)


def write_readme_table() -> None:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{laws_table()}\n{END}{tail}")


def figures(n_resamples: int = 1000) -> None:
    import jaxscale as js

    out = HERE / "figures"
    out.mkdir(exist_ok=True)
    df = js.synthetic_chinchilla(seed=0)
    res = js.fit("chinchilla", df, progress=False)
    boot = js.bootstrap(res, n_resamples, seed=0, progress=False)
    js.plot_fit(boot, extrapolate_to=1e24, save=out / "fit.png")
    js.plot_isoloss(boot, extrapolate_to=1e24, save=out / "isoloss.png")
    js.plot_exponents(boot, save=out / "exponents.png")
    js.plot_isoflop(df, res, save=out / "isoflop.png")
    for p in sorted(out.glob("*.png")):
        print(f"{p.relative_to(HERE.parent)}: {p.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "table"
    if what == "figures":
        figures()
    elif what == "table":
        print(laws_table())
    elif what == "readme":
        write_readme_table()
    else:
        raise SystemExit(__doc__)
