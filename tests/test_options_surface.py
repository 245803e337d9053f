"""Volatility surfaces (raw SVI, file grid, default) and the vol dynamics along a price path (issue #16)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delever.errors import InputError
from delever.options.surface import DEFAULT_SURFACE, GridSurface, SviSlice, SviSurface
from delever.options.vol_dynamics import VolDynamics


def test_svi_total_variance_by_hand():
    # a=0.04, b=0.4, rho=-0.4, m=0.1, s=0.2 at k=0: x=-0.1, w = 0.04 + 0.4 (0.04 + sqrt(0.01 + 0.04))
    # = 0.04 + 0.4 x (0.04 + 0.2236068) = 0.14544272
    sl = SviSlice(years=0.5, a=0.04, b=0.4, rho=-0.4, m=0.1, s=0.2)
    assert sl.total_variance(0.0) == pytest.approx(0.14544272, abs=1e-8)
    surface = SviSurface([sl])
    assert surface.implied_vol(0.0, 0.5) == pytest.approx(np.sqrt(0.14544272 / 0.5), abs=1e-8)


def test_default_surface_documented_values():
    # module docstring: ATM sqrt(0.2 + 0.15 x 0.3) = 0.494975; k=-0.5: 0.2 + 0.15 (0.125 + sqrt(0.34)) = 0.30621
    assert DEFAULT_SURFACE.implied_vol(0.0, 0.1) == pytest.approx(np.sqrt(0.245), abs=1e-12)
    assert DEFAULT_SURFACE.implied_vol(-0.5, 2.0) == pytest.approx(np.sqrt(0.2 + 0.15 * (0.125 + np.sqrt(0.34))))
    assert DEFAULT_SURFACE.implied_vol(-0.5, 1.0) > DEFAULT_SURFACE.implied_vol(0.5, 1.0)  # put skew


@pytest.mark.parametrize(
    "params",
    [
        dict(years=0.0, a=0.1, b=0.1, rho=0.0, m=0.0, s=0.1),
        dict(years=1.0, a=0.1, b=-0.1, rho=0.0, m=0.0, s=0.1),
        dict(years=1.0, a=0.1, b=0.1, rho=1.0, m=0.0, s=0.1),
        dict(years=1.0, a=-0.5, b=0.1, rho=0.0, m=0.0, s=0.1),
        dict(years=1.0, a=0.1, b=1.5, rho=0.5, m=0.0, s=0.1),
    ],
    ids=["zero-expiry", "negative-b", "rho-one", "negative-variance", "lee-bound"],
)
def test_svi_rejects_bad_parameters(params):
    with pytest.raises(ValueError):
        SviSlice(**params)


def test_time_interpolation_is_linear_in_total_variance():
    s1 = SviSlice(0.1, 0.004, 0.02, -0.3, 0.0, 0.2)
    s2 = SviSlice(0.5, 0.03, 0.08, -0.3, 0.0, 0.2)
    surface = SviSurface([s1, s2])
    t = 0.3  # halfway: w = (w1 + w2) / 2
    w = 0.5 * (s1.total_variance(0.1) + s2.total_variance(0.1))
    assert surface.implied_vol(0.1, t) == pytest.approx(np.sqrt(w / t))
    # beyond the last expiry the vol is constant
    assert surface.implied_vol(0.1, 2.0) == pytest.approx(surface.implied_vol(0.1, 0.5))
    assert surface.implied_vol(0.1, 0.01) == pytest.approx(surface.implied_vol(0.1, 0.1))


def _write(tmp_path, text):
    path = tmp_path / "grid.csv"
    path.write_text(text)
    return path


def test_grid_from_csv_interpolates(tmp_path):
    path = _write(
        tmp_path, "years,moneyness,iv\n0.1,0.8,0.7\n0.1,1.0,0.5\n0.1,1.2,0.6\n0.5,0.8,0.6\n0.5,1.0,0.45\n0.5,1.2,0.5\n"
    )
    grid = GridSurface.from_csv(path)
    assert grid.implied_vol(0.0, 0.1) == pytest.approx(0.5)
    assert grid.implied_vol(np.log(0.8), 0.5) == pytest.approx(0.6)
    # flat beyond the last strike
    assert grid.implied_vol(np.log(2.0), 0.1) == pytest.approx(0.6)
    # between strikes: total variance linear in k; at k halfway between ln 1 and ln 1.2 at T=0.1:
    # w = 0.1 (0.25 + 0.36) / 2 = 0.0305 -> vol sqrt(0.305)
    assert grid.implied_vol(np.log(1.2) / 2, 0.1) == pytest.approx(np.sqrt(0.305))


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        ("years,moneyness\n0.1,1.0\n", 1, "iv"),
        ("years,moneyness,iv\n0.1,1.0,0.5\n0.1,1.1,abc\n", 3, "iv"),
        ("years,moneyness,iv\n0.1,1.0,0.5\n-0.1,1.1,0.5\n", 3, "years"),
        ("years,moneyness,iv\n0.1,1.0,0.5\n0.1,1.0,0.6\n", 3, "moneyness"),
        ("years,moneyness,iv\n0.1,1.0,0.5\n0.2,1.1,0.6\n", None, "iv"),
    ],
    ids=["missing-column", "not-a-number", "negative-years", "duplicate-point", "not-rectangular"],
)
def test_grid_csv_errors_name_row_and_field(tmp_path, text, row, field):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        GridSurface.from_csv(path)
    assert err.value.file == str(path) and err.value.row == row and err.value.field == field


def test_grid_csv_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        GridSurface.from_csv(tmp_path / "nope.csv")
    assert err.value.file.endswith("nope.csv")


def test_sticky_strike_keeps_each_strikes_vol():
    dyn = VolDynamics()
    strikes = np.array([80_000.0, 100_000.0, 120_000.0])
    v0 = dyn.implied_vol(strikes, 0.1, 100_000.0, 100_000.0)
    v1 = dyn.implied_vol(strikes, 0.1, 80_000.0, 100_000.0)
    assert v1 == pytest.approx(v0)
    sticky_k = VolDynamics(rule="sticky_moneyness")
    # the smile moves: strike 80,000 at forward 80,000 has the ATM vol
    assert sticky_k.implied_vol(80_000.0, 0.1, 80_000.0, 100_000.0) == pytest.approx(np.sqrt(0.245))


def test_beta_and_shock_by_hand():
    # beta=-1, drop 100,000 -> 90,000: + ln(1/0.9) = 0.1053605 vol points; shock 0.2: ATM 0.4949747 x 1.2
    dyn = VolDynamics(beta=-1.0, shock=0.2)
    vol = dyn.implied_vol(100_000.0, 0.1, 90_000.0, 100_000.0)
    assert vol == pytest.approx(np.sqrt(0.245) * 1.2 + np.log(1 / 0.9))


def test_vol_path_shape_and_floor():
    dyn = VolDynamics(beta=-3.0, floor=0.05)
    path = np.array([100_000.0, 150_000.0, 300_000.0])
    vols = dyn.vol_path(np.array([100_000.0, 110_000.0]), np.array([0.1, 0.2]), path)
    assert vols.shape == (3, 2)
    assert vols[2].tolist() == [0.05, 0.05]  # 0.49 - 3 ln 3 < 0: floored


@settings(max_examples=100, deadline=None)
@given(drop=st.floats(0.01, 0.6), beta=st.floats(-3.0, 0.0))
def test_negative_beta_lifts_vol_in_a_sell_off(drop, beta):
    dyn = VolDynamics(beta=beta)
    before = dyn.implied_vol(100_000.0, 0.1, 100_000.0, 100_000.0)
    after = dyn.implied_vol(100_000.0, 0.1, 100_000.0 * (1 - drop), 100_000.0)
    assert after >= before


def test_vol_dynamics_rejects_bad_settings():
    with pytest.raises(ValueError):
        VolDynamics(rule="sticky_delta")
    with pytest.raises(ValueError):
        VolDynamics(shock=-1.0)
