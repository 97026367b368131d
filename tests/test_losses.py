import numpy as np
import pytest
from keras import ops

from vaelab.losses import gaussian_kl, gaussian_kl_per_dim


def kl(m, lv):
    return ops.convert_to_numpy(gaussian_kl(np.asarray(m, "float32"), np.asarray(lv, "float32")))


def test_kl_of_standard_normal_is_zero():
    assert kl(np.zeros((3, 5)), np.zeros((3, 5))) == pytest.approx([0, 0, 0], abs=1e-7)


@pytest.mark.parametrize("d", [1, 2, 10])
def test_kl_unit_mean_is_half_dim(d):
    assert kl(np.ones((1, d)), np.zeros((1, d)))[0] == pytest.approx(d / 2, rel=1e-6)


def test_kl_non_trivial_case_by_hand():
    # KL(N(m, s^2) || N(0, 1)) = 0.5 * (s^2 + m^2 - 1 - ln s^2); m=0.5, s^2=2 -> 0.5*(2+0.25-1-ln 2)
    expected = 0.5 * (2 + 0.25 - 1 - np.log(2))
    assert kl([[0.5]], [[np.log(2)]])[0] == pytest.approx(expected, rel=1e-6)
    per_dim = ops.convert_to_numpy(gaussian_kl_per_dim(np.array([[0.5, 0.0]], "float32"),
                                                       np.array([[np.log(2), 0.0]], "float32")))
    assert per_dim[0] == pytest.approx([expected, 0.0], abs=1e-6)
