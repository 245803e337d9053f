"""Every report opens in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) through
Selenium. Each page must load with no console error and with every plotly figure drawn (plotly attaches its
computed layout to the figure's div and draws an SVG into it).

Pages: a run, a multi-instrument run (a perpetual and a dated future), a run with ``--ablate``, ``compare``,
``sweep`` and ``adl-event``, each made by the command on a small scenario. CI installs Chromium (``.ci/run``,
which sets ``DELEVER_BROWSER_TESTS=required``); elsewhere the tests skip when it is missing, and fail under ``CI``
or with that variable set, so that a CI run cannot pass without them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from delever.cli import app
from delever.scenario import default_scenario_path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI") or os.environ.get("DELEVER_BROWSER_TESTS") == "required":
        raise RuntimeError("CI must install chromium and chromium-driver for the browser tests (.ci/run)")
    pytest.skip(
        "headless Chromium is not installed (apt-get install chromium chromium-driver)", allow_module_level=True
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[test]' installs selenium")

WINDOW = ("2025-10-10T21:12:00Z", "2025-10-10T21:22:00Z")
"""Ten minutes of the crash: enough for liquidations and ADL on a thin book."""


def small(path: Path, packaged: str, accounts: int = 400, thin: bool = True) -> Path:
    """A packaged scenario with fewer accounts over :data:`WINDOW` (and a thin book and small fund)."""
    text = (default_scenario_path().parent / packaged).read_text(encoding="utf-8")
    text = re.sub(r"^accounts = \d+$", f"accounts = {accounts}", text, flags=re.M)
    if thin:
        text = re.sub(r"^depth_scale = .*$", "depth_scale = 0.001", text, flags=re.M)
        text = re.sub(r'^balance = ".*"$', 'balance = "1000"', text, flags=re.M)
    text, n = re.subn(
        r'^(file = "package:binance_btcusdt_20251010/btcusdt_perp_1m_2025-10-10.csv")$',
        r"\1" + f"\nstart = {WINDOW[0]}\nend = {WINDOW[1]}",
        text,
        flags=re.M,
    )
    assert n == 1
    out = path / packaged
    out.write_text(text, encoding="utf-8")
    return out


def invoke(*args: str) -> None:
    res = CliRunner().invoke(app, [*args, "-q"])
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pages")
    default = small(d, "binance-btcusdt-2025-10-10.toml")
    calendar = small(d, "binance-btcusdt-2025-10-10-calendar-spread.toml", accounts=600, thin=False)
    invoke("run", str(default), "--out", str(d / "run"))
    invoke("run", str(calendar), "--out", str(d / "multi"))
    invoke("run", str(default), "--set", "mechanisms.circuit_breaker.enabled=true", "--set",
           "mechanisms.funding.enabled=true", "--ablate", "--out", str(d / "ablation"))  # fmt: skip
    # the packaged default itself: the small books' winners are closed at prices no worse than the mark, so only
    # the full book draws the haircut distributions (two queue policies: about a second each)
    invoke("compare", "--policy", "queue-bitmex", "--policy", "queue-binance", "--out", str(d / "cmp"))
    invoke("sweep", str(default), "--paths", "3", "--workers", "1", "--steps", "60", "--out", str(d / "sweep"))
    invoke("adl-event", "--policy", "queue-hyperliquid", "--policy", "pro-rata-pnl", "--replicas", "1", "--out",
           str(d / "adl"))  # fmt: skip
    return {
        "run": d / "run" / "report.html",
        "multi-instrument": d / "multi" / "report.html",
        "ablation": d / "ablation" / "report.html",
        "compare": d / "cmp" / "report.html",
        "sweep": d / "sweep" / "report.html",
        "adl-event": d / "adl" / "report.html",
    }


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


FIGURES_DRAWN = """
return Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
  id: d.id,
  laidOut: !!d._fullLayout,
  traces: (d.data || []).length,
  drawnTraces: (d._fullData || []).length,
  svg: d.querySelectorAll('svg.main-svg').length,
  height: d.getBoundingClientRect().height,
}));
"""

EXPECTED_FIGURES = {
    "run": {"fig-prices", "fig-liquidations", "fig-insurance", "fig-adl", "fig-leverage"},
    "multi-instrument": {"fig-prices", "fig-prices-2", "fig-insurance", "fig-liquidations"},
    "ablation": {"fig-prices", "fig-insurance"},
    "compare": {"fig-haircuts"},
    "sweep": {"fig-bad_debt", "fig-fund_drawdown", "fig-adl_notional"},
    "adl-event": {"fig-waves", "fig-haircuts"},
}


@pytest.mark.parametrize("name", list(EXPECTED_FIGURES))
def test_page_renders_in_chromium(pages, browser, name):
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(pages[name].as_uri())
    figures = browser.execute_script(FIGURES_DRAWN)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    ids = {f["id"] for f in figures}
    assert EXPECTED_FIGURES[name] <= ids, ids
    not_drawn = [f for f in figures if not (f["laidOut"] and f["svg"] > 0 and f["drawnTraces"] == f["traces"] > 0)]
    assert not not_drawn
    assert all(f["height"] >= 200 for f in figures), figures
    # nothing runs off the page: wide tables scroll inside their section
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
