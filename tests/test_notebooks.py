"""Every notebook in notebooks/ runs top to bottom, so the examples cannot rot.

The code cells run **in this process** in a fresh namespace per notebook (IPython magics such as
``%matplotlib inline`` are skipped; matplotlib uses the Agg backend), not in a Jupyter kernel
through nbclient: a kernel per notebook would pay Python start-up, the JAX import and every JAX
compilation again, while in-process the notebooks share compiled fits with each other and with
tests/test_plots.py (same laws and shapes), which keeps the whole file within its time budget.
As in Jupyter, a cell whose last line is an expression has it "displayed": a figure is rendered
to PNG, anything else is ``repr``-ed, so drawing errors surface too. Each notebook ends with a
cell of assertions on its numbers.
"""

import ast
import io
import json
import warnings
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        assert not cell.get("outputs"), f"{path.name}: save notebooks without outputs"
        src = "".join(cell["source"])
        out.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return out


def run_notebook(path: Path) -> dict:
    """Execute the code cells in a fresh namespace; return the namespace and the number of figures shown."""
    import matplotlib

    matplotlib.use("Agg")
    ns = {"__name__": "__main__"}
    shown = 0
    for i, src in enumerate(code_cells(path)):
        tree = ast.parse(src, filename=f"{path.name}[{i}]")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"{path.name}[{i}]", "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), f"{path.name}[{i}]", "eval"), ns)
            if hasattr(value, "savefig"):
                value.savefig(io.BytesIO(), format="png", dpi=40)
                shown += 1
            else:
                repr(value)
    ns["__figures_shown__"] = shown
    return ns


def test_notebooks_present():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names
    for p in NOTEBOOKS:
        assert p.stat().st_size < 60_000, f"{p.name} is large: save it without outputs"
        assert code_cells(p), p.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # anything a notebook writes lands in a temporary folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ns = run_notebook(path)
    assert ns["__figures_shown__"] >= 1, f"{path.name} shows no figure"
