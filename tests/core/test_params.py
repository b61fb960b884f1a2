import math

import pytest

from core.errors import ParameterError
from core.params import Param


def test_lin_mapping_round_trips_and_hits_ends() -> None:
    p = Param("gain_db", 0.0, -60.0, 24.0, unit="dB")
    assert p.to_norm(-60.0) == 0.0 and p.to_norm(24.0) == 1.0
    assert p.to_norm(0.0) == pytest.approx(60 / 84)
    for x in (0.0, 0.13, 0.5, 0.99, 1.0):
        assert p.to_norm(p.from_norm(x)) == pytest.approx(x, abs=1e-12)


def test_log_mapping_is_geometric() -> None:
    p = Param("freq_hz", 1000.0, 20.0, 20000.0, unit="Hz", scale="log")
    assert p.from_norm(0.5) == pytest.approx(math.sqrt(20.0 * 20000.0))
    assert p.to_norm(200.0) == pytest.approx(1 / 3)


def test_choice_accepts_names_and_indices() -> None:
    p = Param("mode", 0, 0, 0, scale="choice", choices=("peak", "rms"))
    assert (p.min, p.max, p.smoothing_ms) == (0.0, 1.0, 0.0)
    assert p.validate("rms") == 1.0
    assert p.from_norm(0.7) == 1.0
    with pytest.raises(ParameterError, match="'hold' is not one of peak, rms"):
        p.validate("hold")
    with pytest.raises(ParameterError, match="whole"):
        p.validate(0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "loud", None])
def test_non_numbers_and_non_finite_are_refused(bad: object) -> None:
    p = Param("gain_db", 0.0, -60.0, 24.0)
    with pytest.raises(ParameterError, match="gain_db"):
        p.validate(bad)  # type: ignore[arg-type]


def test_out_of_range_names_parameter_and_range() -> None:
    p = Param("ratio", 4.0, 1.0, 20.0)
    with pytest.raises(ParameterError, match=r"ratio: 25 is outside \[1, 20\]"):
        p.validate(25)
    with pytest.raises(ParameterError, match="normalised value 1.5"):
        p.from_norm(1.5)


def test_declaration_errors() -> None:
    with pytest.raises(ValueError, match="default"):
        Param("x", 5.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="min > 0"):
        Param("f", 1.0, 0.0, 10.0, scale="log")
