"""``delever offset`` (:mod:`delever.cli.operations`): the offset operation from the command line, the dYdX rows of
tests/conformance/test_ops_offset.py (engines.md s1, deleveraging.go), and bad input exiting with status 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from delever.cli.app import app

runner = CliRunner()
A = ["--a-wallet", "1000", "--a-position", "BTC-USD:1@100000:98500"]
BASE = ["offset", "--venue", "dydx", "--symbol", "BTC-USD", *A]


def test_offset_at_the_bankruptcy_price_by_default():
    """A long 1 BTC @100,000 backed by 1,000: BP 99,000; B short 2 @101,000 with 100 takes it (B realizes 2,000 on
    1 BTC: wallet 2,100; its equity at 98,500: 2,100 - 2,500 + 5,000 = 4,600); B pays A 99,000."""
    res = runner.invoke(app, [*BASE, "--size", "1", "--b-wallet", "100", "--b-position", "BTC-USD:-2@101000:98500",
                              "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["bankruptcy_price_a"], out["price"], out["accepted"]) == (99000, 99000, True)
    assert out["transfers"] == [{"payer": "B", "payee": "A", "amount": 99000}]
    a, b = out["accounts"]
    assert (a["wallet"], a["size_left"], b["wallet"], b["equity"], b["size_left"]) == (0, 0, 2100, 4600, -1)


def test_rejected_offset_says_what_b_could_take():
    """B short 1 @98,600 with 0: equity 100 at 98,500, 500 per BTC at 99,000 -> 0.2 BTC at most; the table view."""
    res = runner.invoke(app, [*BASE, "--size", "1", "--b-position", "BTC-USD:-1@98600:98500"])
    assert res.exit_code == 0, res.output
    assert "B can take 0.2000; rejected" in res.output
    assert "pays" not in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--size", "0.00001", "--b-position", "BTC-USD:-1@98600"], "field 'size'", id="size-off-the-lot"),
        pytest.param(["--size", "1", "--price", "99000.5", "--b-position", "BTC-USD:-1@98600"], "field 'price'",
                     id="price-off-the-tick"),
        pytest.param(["--size", "1", "--b-position", "BTC-USD:1@98600"], "field 'symbol'", id="same-side"),
        pytest.param(["--size", "1", "--b-position", "BTC-USD:-1@98600", "--b-wallet", "x"], "field 'b-wallet'",
                     id="wallet-not-a-number"),
        pytest.param(["--size", "1", "--b-position", "BTCUSD-1"], "field 'position'", id="malformed-position"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_argument(args, message):
    res = runner.invoke(app, [*BASE, *args])
    assert res.exit_code == 2
    assert message in res.output
