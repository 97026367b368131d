import pytest

from vaelab.config import LossConfig
from vaelab.schedules import SCHEDULES, beta_at


def test_constant():
    assert [beta_at(e, LossConfig(beta=0.5)) for e in (0, 5, 100)] == [0.5, 0.5, 0.5]


def test_linear_warmup_start_mid_end():
    cfg = LossConfig(beta=1.0, beta_schedule="linear_warmup", warmup_epochs=10, beta_start=0.0)
    assert [beta_at(e, cfg) for e in (0, 5, 10, 50)] == pytest.approx([0.0, 0.5, 1.0, 1.0])


def test_cyclical_rises_then_holds_then_restarts():
    cfg = LossConfig(beta=1.0, beta_schedule="cyclical", cycle_epochs=4, cycle_ratio=0.5)
    assert [beta_at(e, cfg) for e in range(9)] == pytest.approx([0, 0.5, 1, 1, 0, 0.5, 1, 1, 0])


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown beta schedule 'cosine'; choose from"):
        beta_at(0, LossConfig(beta_schedule="cosine"))
    assert {"constant", "linear_warmup", "cyclical"} <= set(SCHEDULES.names())
