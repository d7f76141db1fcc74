"""``report --html``: the rows it draws, its filters, and the page rendered in a real headless browser."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matinv_bench.cli import main
from matinv_bench.errors import ReportError, UserError
from matinv_bench.reporting import results, summary

alt = pytest.importorskip("altair", reason="the html extra (altair) is not installed")
vlc = pytest.importorskip("vl_convert", reason="the html extra (vl-convert-python) is not installed")

from matinv_bench.reporting import html  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"  # the committed results
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
POINT = 'aria-roledescription="point"'


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)}); "
                    "install Debian's chromium to run this test")
    return found


def render(path: Path, profile: Path) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, the messages the page wrote to its console)."""
    proc = subprocess.run([browser(), "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
                           "--v=0", f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom",
                           path.resolve().as_uri()], check=False, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = re.findall(r':CONSOLE[:(]?\d*\)?\] "(.*)", source:', proc.stderr)
    return proc.stdout, console


def test_family_drops_the_size():
    assert html.family("randsvd[n=8,cond=1e6]") == "randsvd[cond=1e6]"
    assert html.family("randsvd[cond=1e6,n=8]") == "randsvd[cond=1e6]"
    assert html.family("spd-box[n=16]") == "spd-box"
    assert html.family("paper-dir:../shared/paper-data/matrix_2_dataset") == "paper-dir:matrix_2_dataset"
    assert html.family("paper-3x3") == "paper-3x3"


def test_rows_from_the_committed_results():
    wp, sc = html.figure_rows(RESULTS)
    assert len(wp) > 100 and (wp.mae > 0).all() and (wp.time_per_matrix_s > 0).all()
    assert not wp.duplicated(["spec", "dataset", "dtype", "device", "seed"]).any()
    # the scaling study (float64 and float32) gives lines over n; paper datasets have no size parameter
    assert {"spd-box (float64, cpu)", "spd-box (float32, cpu)"} <= set(sc.panel)
    assert (sc.groupby(["solver", "panel"]).n.nunique() >= 2).all()
    assert "mlp-2fc[hidden=2n^2,recipe=none]" in set(sc.solver)  # the study's label, not one spec per n


def test_filters_select_the_rows():
    """The drop-downs' filter, evaluated by Vega itself (vl-convert): each point drawn is a row kept."""
    wp, sc = html.figure_rows(RESULTS)
    wp, sc = wp[wp.run.isin(["paper/table2-quick", "scaling-float32"])], sc[sc.dtype == "float32"]  # quicker
    spec = html.build_chart(wp, sc).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["pick_solver"]["bind"]["options"][0] == html.ALL
    assert vlc.vegalite_to_svg(spec).count(POINT) == len(wp) + len(sc)
    params["pick_solver"]["value"] = "lu"
    assert vlc.vegalite_to_svg(spec).count(POINT) == (wp.solver == "lu").sum() + (sc.solver == "lu").sum()
    params["pick_dataset"]["value"] = "spd-box"
    n = ((wp.solver == "lu") & (wp.family == "spd-box")).sum() + ((sc.solver == "lu") & (sc.family == "spd-box")).sum()
    assert 0 < n < len(wp) and vlc.vegalite_to_svg(spec).count(POINT) == n


@pytest.mark.slow
def test_page_renders_in_a_browser_without_network_or_errors(tmp_path):
    browser()  # skip first, before building the page, when there is none
    page = html.write_html(RESULTS, tmp_path / "REPORT.html")
    text = page.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=[\"']?(https?:)?//", text), "the page loads something"
    dom, console = render(page, tmp_path / "profile")
    assert console == [], console  # no uncaught error, no Vega warning
    assert "JavaScript Error" not in dom and 'class="marks"' in dom
    wp, sc = html.figure_rows(RESULTS)
    assert dom.count(POINT) == len(wp) + len(sc)  # every row drawn
    assert 'name="pick_solver"' in dom and 'name="pick_dataset"' in dom
    # the console is read: a page with an uncaught error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notAFunction()</script></body></html>")
    assert any("Uncaught" in m for m in render(bad, tmp_path / "profile")[1])


def test_report_html_from_the_command_line(tmp_path, capsys):
    root = tmp_path / "results"
    df = results.read_results(RESULTS / "scaling-float32")
    df = df[df.solver.isin(["lu", "qr"]) & df.n.isin([2, 4, 8]) & (df.status == "ok")]
    results.write_tables(df, root / "run")
    summary.write(root / "run", df, "part of the scaling study", "matinv-bench scaling", summary.run_body(df))
    (root / "manifest.toml").write_text('[[set]]\nname = "run"\nfolder = "results/run"\n'
                                        'command = "matinv-bench scaling --out results/run"\n')
    assert main(["report", "--results", str(root), "--html"]) == 0
    assert f"wrote {root / 'REPORT.html'}" in capsys.readouterr().out
    wp, sc = html.figure_rows(root)
    assert len(wp) == len(sc) == 6 and set(sc.panel) == {"spd-box (float32, cpu)"}
    text = (root / "REPORT.html").read_text()
    assert "spd-box[n=8]" in text and "pick_solver" in text


def test_nothing_to_draw_and_missing_extra(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no manifest.toml"):
        html.write_html(tmp_path / "empty", tmp_path / "x.html")
    untimed = tmp_path / "results"
    (untimed / "regions").mkdir(parents=True)
    (untimed / "manifest.toml").write_text('[[set]]\nname = "regions"\nfolder = "results/regions"\n'
                                           'command = "matinv-bench reproduce regions --out results/regions"\n')
    with pytest.raises(ReportError, match="no timed results table"):
        html.write_html(untimed, tmp_path / "x.html")
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    with pytest.raises(UserError, match=r"html extra \(vl_convert is missing\)"):
        html.write_html(RESULTS, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
