"""``fastmlp.kernels.elementary`` against NumPy's float64 exp.

The functions are called inside compiled loops, as the kernels call them, on
float64 and float32 arrays.
"""

import numpy as np
from numba import njit

from fastmlp.kernels.elementary import exp, logistic


def _over(function):
    @njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = function(x[i])

    def call(x):
        out = np.empty(x.shape, np.float64)
        apply(x, out)
        return out

    return call


vector_exp, vector_logistic = _over(exp), _over(logistic)


def ulp_error(value, exact):
    """|value - exact| in units in the last place of ``exact`` (0 where both agree)."""
    same = (value == exact) | (np.isnan(value) & np.isnan(exact))
    with np.errstate(invalid="ignore"):
        error = np.abs(value - exact) / np.spacing(np.abs(exact))
    return np.where(same, 0.0, error)


def test_exp_is_within_one_ulp():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745, 709.7, 200_000), rng.uniform(-1, 1, 50_000),
                        rng.uniform(-1e-9, 1e-9, 1_000), [0.0, -0.0, 1.0, -1.0, 709.78]])
    assert ulp_error(vector_exp(x), np.exp(x)).max() <= 1.0


def test_exp_underflows_and_overflows_like_numpy():
    x = np.array([-708.5, -720.0, -745.0, -745.2, -800.0, -np.inf, 709.8, 800.0, np.inf, np.nan])
    with np.errstate(over="ignore"):
        exact = np.exp(x)
    got = vector_exp(x)
    subnormal = (exact > 0) & (exact < np.finfo(np.float64).tiny)
    assert subnormal.sum() == 3
    # Subnormal results have fewer significant bits: within one step of the smallest one.
    np.testing.assert_array_less(np.abs(got[subnormal] - exact[subnormal]), 5e-324 * 1.5)
    np.testing.assert_array_equal(got[~subnormal], exact[~subnormal])


def test_float32_results_round_correctly():
    """Rounded to float32, the float64 results equal the correctly rounded value."""
    x = np.random.default_rng(2).uniform(-103.0, 88.0, 200_000).astype(np.float32)
    exact = np.exp(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(vector_exp(x).astype(np.float32), exact)


def test_logistic():
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.uniform(-40, 40, 100_000), [0.0, 1e-300, -1e-300, 745.0, -745.0]])
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-z))
    assert ulp_error(vector_logistic(z), exact).max() <= 3.0
    ends = vector_logistic(np.array([np.inf, -np.inf, 800.0, -800.0, np.nan]))
    np.testing.assert_array_equal(ends[:4], [1.0, 0.0, 1.0, 0.0])
    assert np.isnan(ends[4])
