import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale._data import load_data


@pytest.fixture
def frame():
    return js.synthetic_chinchilla().iloc[:20].reset_index(drop=True)


def test_synthetic_data_is_deterministic_and_documented():
    a, b = js.synthetic_chinchilla(), js.synthetic_chinchilla()
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 135 and list(a.columns) == ["N", "D", "C", "loss"]
    np.testing.assert_allclose(6 * a["N"] * a["D"], a["C"], rtol=1e-12)
    clean = js.chinchilla.predict(js.EPOCH_PARAMS, {"N": a["N"].to_numpy(), "D": a["D"].to_numpy()})
    noise = np.log(a["loss"].to_numpy() / clean)
    assert 0.007 < noise.std() < 0.013  # the documented 1% log-normal noise
    assert not a.equals(js.synthetic_chinchilla(seed=1))


@pytest.mark.parametrize("bad,match", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                       (0.0, "must be > 0"), (-5.0, "must be > 0")])
def test_bad_values_in_inputs(frame, bad, match):
    frame.loc[3, "N"] = bad
    with pytest.raises(ValueError, match=match) as err:
        js.fit("chinchilla", frame, progress=False)
    assert "N" in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, 0.0, -1.0])
def test_bad_values_in_target(frame, bad):
    frame.loc[5, "loss"] = bad
    with pytest.raises(ValueError, match="loss|target"):
        js.fit("chinchilla", frame, progress=False)


def test_non_positive_target_allowed_for_linear_loss(frame):
    ds = load_data(frame.assign(loss=frame["loss"] - 10), js.chinchilla, log_target=False)
    assert (ds.y < 0).all()


def test_fewer_points_than_parameters(frame):
    with pytest.raises(ValueError, match="fewer than the 5 parameters"):
        js.fit("chinchilla", frame.iloc[:4], progress=False)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="mismatched lengths"):
        js.fit("chinchilla", {"N": np.ones(10) * 1e9, "D": np.ones(9) * 1e10, "loss": np.ones(10) * 3}, progress=False)
    with pytest.raises(ValueError, match="shape"):
        js.fit("chinchilla", {"N": np.ones(10) * 1e9, "D": np.ones(10) * 1e10}, target=np.ones(7), progress=False)


def test_unknown_columns(frame):
    with pytest.raises(ValueError, match="unknown column 'params'"):
        js.fit("chinchilla", frame, inputs={"N": "params"}, progress=False)
    with pytest.raises(ValueError, match="unknown column 'val_loss'"):
        js.fit("chinchilla", frame, target="val_loss", progress=False)
    with pytest.raises(ValueError, match="unknown input name"):
        js.fit("chinchilla", frame, inputs={"Q": "N"}, progress=False)


def test_text_and_empty_csv(tmp_path, frame):
    p = tmp_path / "d.csv"
    frame.assign(N=frame["N"].astype(str).where(frame.index != 2, "big")).to_csv(p, index=False)
    with pytest.raises(ValueError, match="non-numeric"):
        js.fit("chinchilla", p, progress=False)
    p.write_text("")
    with pytest.raises(ValueError, match="empty"):
        js.fit("chinchilla", p, progress=False)
    p.write_text("N,D,loss\n")
    with pytest.raises(ValueError, match="no rows"):
        js.fit("chinchilla", p, progress=False)
    with pytest.raises(ValueError, match="not found"):
        js.fit("chinchilla", tmp_path / "missing.csv", progress=False)


def test_inputs_are_not_mutated():
    frame = js.synthetic_chinchilla()
    copy = frame.copy(deep=True)
    arrays = {k: frame[k].to_numpy().copy() for k in ("N", "D", "loss")}
    before = {k: v.copy() for k, v in arrays.items()}
    js.fit("chinchilla", frame, starts="halton", n_starts=64, progress=False)
    js.fit("chinchilla", arrays, starts="halton", n_starts=64, progress=False)
    pd.testing.assert_frame_equal(frame, copy)
    for k in arrays:
        np.testing.assert_array_equal(arrays[k], before[k])


def test_csv_dataframe_and_arrays_agree(tmp_path):
    frame = js.synthetic_chinchilla()
    p = tmp_path / "runs.csv"
    frame.rename(columns={"N": "params", "D": "tokens", "loss": "val"}).to_csv(p, index=False)
    kw = dict(starts="halton", n_starts=64, progress=False)
    a = js.fit("chinchilla", p, inputs="N=params,D=tokens", target="val", **kw)
    b = js.fit("chinchilla", frame, **kw)
    c = js.fit("chinchilla", {k: frame[k].to_numpy() for k in ("N", "D")}, target=frame["loss"].to_numpy(), **kw)
    for k in js.chinchilla.param_names:
        assert a.params[k] == pytest.approx(b.params[k], rel=1e-12)
        assert c.params[k] == pytest.approx(b.params[k], rel=1e-12)


def test_weights_validation(frame):
    with pytest.raises(ValueError, match="weights"):
        js.fit("chinchilla", frame, weights=-np.ones(len(frame)), progress=False)
