import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import huber as scipy_huber

import jaxscale as js
from jaxscale import precision


def test_huber_matches_scipy_and_is_summed():
    r = np.linspace(-0.01, 0.01, 41)
    obj = js.huber(1e-3)
    with precision():
        got = float(obj.value(jnp.asarray(r), jnp.zeros(41), jnp.ones(41)))
    assert got == pytest.approx(scipy_huber(1e-3, r).sum(), rel=1e-12)


@pytest.mark.parametrize("obj", [js.huber(1e-3), js.huber(0.1), js.squared_log(), js.squared()])
def test_psi_is_the_derivative_and_kappa_is_psi_over_r(obj):
    r = np.array([-0.3, -2e-3, -5e-4, 1e-4, 7e-4, 0.02, 1.5])
    with precision():
        rr = jnp.asarray(r)
        np.testing.assert_allclose(jax.vmap(jax.grad(obj.rho))(rr), obj.psi(rr), rtol=1e-12)
        np.testing.assert_allclose(obj.kappa(rr), obj.psi(rr) / rr, rtol=1e-12)


def test_weights_multiply_point_losses():
    obj = js.squared_log()
    with precision():
        y, m = jnp.asarray([1.0, 2.0, 3.0]), jnp.asarray([1.5, 2.0, 2.0])
        assert float(obj.value(y, m, jnp.asarray([2.0, 1.0, 0.0]))) == pytest.approx(2 * 0.25)


def test_objectives_compare_by_value_and_names():
    assert js.huber(1e-3) == js.huber(1e-3)
    assert js.huber(1e-3) != js.huber(1e-2)
    assert js._objectives.get_objective("squared").space == "linear"
    with pytest.raises(ValueError, match="unknown loss"):
        js._objectives.get_objective("l7")
    with pytest.raises(ValueError, match="delta"):
        js.huber(0.0)
