"""Every ```python block of README.md runs, in order, in one namespace (as a reader would paste
them), so the README cannot show a call that no longer works.

Only the sizes are scaled down for the CI budget (4,000 resamples -> 200, NUTS 4 x (1000 + 1000)
-> 2 x (150 + 100)); the calls are the README's own. The block that runs NUTS (``bayes_fit``,
``compare_laws``) is in the slow tier. Files the snippets write (``save="fit.png"``) go to a
temporary folder.
"""

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

#: (README text, what the test runs instead): sizes only.
SMALLER = [
    ("js.bootstrap(res, 4000, seed=42)", "js.bootstrap(res, 200, seed=42)"),
    ("chains=4, warmup=1000, samples=1000", "chains=2, warmup=150, samples=100"),
]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


BLOCKS = python_blocks()


def _smaller(code: str) -> str:
    for old, new in SMALLER:
        code = code.replace(old, new)
    if "compare_laws(" in code:
        code = code.replace('scale="x")', 'scale="x", chains=1, warmup=100, samples=100)')
    return code


@pytest.fixture(scope="module")
def namespace():
    return {"__ran__": set()}


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 4
    for old, _ in SMALLER:  # the substitutions still match the README (else they silently stop scaling)
        assert any(old in b for b in BLOCKS), old


@pytest.mark.parametrize("i", [pytest.param(i, marks=pytest.mark.slow) if "bayes_fit(" in b else i
                               for i, b in enumerate(BLOCKS)])
def test_readme_block_runs(i, namespace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = namespace["__ran__"]
    # A reader pastes the blocks in order: run the earlier ones first when this worker has not
    # (the slow tier deselects them; xdist may send blocks to different workers).
    for j in [j for j in range(i + 1) if j not in ran]:
        code = _smaller(BLOCKS[j])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the README's data are small and noisy: a warning is not a failure
            exec(compile(code, f"README.md python block {j}", "exec"), namespace)
        ran.add(j)
