"""``report --html``: the page is the report (every heading, table and figure of REPORT.md, in its
order) plus the explorer; its points aggregate seeds, its legends stay short, its filters select
the rows; the page loads nothing from anywhere, and a real headless browser shows text and
figures at its top."""

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex

from matinv_bench.cli import main
from matinv_bench.errors import ReportError, UserError
from matinv_bench.reporting import results, style, summary

alt = pytest.importorskip("altair", reason="the html extra (altair) is not installed")
vlc = pytest.importorskip("vl_convert", reason="the html extra (vl-convert-python) is not installed")
pytest.importorskip("markdown_it", reason="the html extra (markdown-it-py) is not installed")

from matinv_bench.reporting import explorer, html  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"  # the committed results
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000"]
WINDOW = (1400, 2400)
MAIN_LEFT = 300  # px: the page's text column starts right of the contents list
POINT = 'aria-roledescription="point"'


@pytest.fixture(scope="module")
def rows():
    return explorer.timed_rows(RESULTS)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The page of the committed report and results."""
    return html.write_html(RESULTS / "REPORT.md", RESULTS, tmp_path_factory.mktemp("page") / "REPORT.html")


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)}); "
                    "install Debian's chromium to run this test")
    return found


def chromium(page: Path, profile: Path, *mode: str) -> tuple[str, list[str]]:
    """(stdout, the messages the page wrote to its console) of headless Chromium on ``page``, with a
    new empty profile; ``mode``: ``--dump-dom`` (the DOM after the scripts ran, to stdout) and/or
    ``--screenshot=PATH`` (the window, WINDOW pixels)."""
    profile.mkdir()
    proc = subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                           *mode, page.resolve().as_uri()], check=False, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, re.findall(r':CONSOLE[:(]?\d*\)?\] "(.*)", source:', proc.stderr)


def ink(png: Path, top: int, bottom: int) -> float:
    """The share of pixels darker than light grey in rows ``top:bottom`` of the text column."""
    from PIL import Image

    grey = np.asarray(Image.open(png).convert("L"))
    return float((grey[top:bottom, MAIN_LEFT:] < 230).mean())


class Tags(HTMLParser):
    """Every start tag (name, attributes) and the text of every heading, of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.headings, self._heading = [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = [int(tag[1]), ""]

    def handle_endtag(self, tag):
        if self._heading is not None and tag == f"h{self._heading[0]}":
            self.headings.append((self._heading[0], " ".join(self._heading[1].split())))
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data


def markdown_headings(text: str) -> list[tuple[int, str]]:
    """The headings of a Markdown file as a reader sees them (inline code marks dropped)."""
    return [(len(m.group(1)), " ".join(m.group(2).replace("`", "").split()))
            for m in re.finditer(r"^(#{1,6}) (.+?)\s*$", text, re.MULTILINE)]


def loads_nothing(text: str) -> list[str]:
    """What the page would fetch: every src of any element, every href of a <link>, every CSS url()
    that is not a data URI."""
    found = [f"<{tag} {key}={value}>" for tag, attrs in Tags(text).tags for key, value in attrs.items()
             if value and (key == "src" or (tag == "link" and key == "href")) and not value.startswith("data:")]
    return found + re.findall(
        r"url\((?!['\"]?data:)[^)]*\)", "".join(re.findall(r"<style>(.*?)</style>", text, re.DOTALL))
    )


def legend(svg: str, chart: int = 0) -> list[tuple[str, str]]:
    """(colour, label) of each entry of the ``chart``-th legend of a Vega SVG (as vl-convert writes it,
    or as the browser's DOM holds it)."""
    block = svg.split('aria-roledescription="legend"')[1 + chart]
    block = block.split('aria-roledescription="legend"')[0]
    return re.findall(r'role-legend-symbol[^"]*".*?fill="(#[0-9a-f]{6})".*?role-legend-label[^"]*".*?<text[^>]*>'
                      r"([^<]*)</text>", block, re.DOTALL)


def test_family_drops_the_size():
    assert explorer.family("randsvd[n=8,cond=1e6]") == "randsvd[cond=1e6]"
    assert explorer.family("randsvd[cond=1e6,n=8]") == "randsvd[cond=1e6]"
    assert explorer.family("spd-box[n=16]") == "spd-box"
    assert explorer.family("paper-dir:../shared/paper-data/matrix_2_dataset") == "paper-dir:matrix_2_dataset"
    assert explorer.family("paper-3x3") == "paper-3x3"


def test_precision_points_aggregate_seeds(rows):
    wp = explorer.precision_points(rows)
    assert len(wp) > 100 and not wp.label.str.contains("seed").any()
    assert not wp.duplicated(["view", "label", "recipe", "dtype", "device"]).any()  # seeds aggregated
    ulp = 1 + 1e-12  # the mean of equal values may differ from them in the last bit
    assert (wp.error_lo <= wp.error * ulp).all() and (wp.error <= wp.error_hi * ulp).all() and (wp.seeds >= 1).all()
    assert (wp.seeds == 3).sum() > 50
    # the trained 2-FC of Table 2 (fast recipe): the mean and spread of its three seeds' rows
    raw = rows[rows.solver.str.match(r"mlp-2fc\[recipe=fast,seed=\d\]") & (rows.dataset == "paper-2x2-1st")]
    raw = raw.sort_values("timestamp").drop_duplicates("solver", keep="last")
    point = wp[(wp.view == "paper-2x2-1st") & (wp.label == "2-FC") & (wp.recipe == "fast")].iloc[0]
    assert point.seeds == len(raw) == 3
    assert point.error == pytest.approx(raw.mae.mean(), rel=1e-5) and point.error_hi == pytest.approx(raw.mae.max())
    # the paper's MAE on its boxes, the relative error elsewhere, as in the report's figures
    assert set(wp.loc[wp.view == "paper-2x2-1st", "error_metric"]) == {"mean abs. error"}
    assert set(wp.loc[wp.view.str.startswith("randsvd"), "error_metric"]) == {"relative error (Frobenius)"}
    # as the report's figures: no untrained network, no scaling study
    assert not wp.recipe.eq("none").any() and not wp.runs.str.contains("scaling").any()
    assert "paper-dir:matrix_2_dataset" in set(wp.view)


def test_scaling_points_over_seeds_and_repetitions(rows):
    sc = explorer.scaling_points(rows)
    assert sc.view.iloc[0] == "scaling: spd-box, float64, cpu"  # the broadest study first, in the manifest's order
    study = sc[sc.view == "scaling: spd-box, float64, cpu"]
    assert study.label.nunique() == 17 and "2-FC, h=2n², recipe=none" in set(study.label)
    lu = rows[(rows.run == "scaling") & (rows.solver == "lu") & (rows.n == 64)]
    point = study[(study.spec == "lu") & (study.n == 64)].iloc[0]
    assert point.samples == len(lu) == 3 and point.time_per_matrix_s == pytest.approx(lu.time_per_matrix_s.mean())
    assert (sc.groupby(["view", "label"]).n.nunique() >= 2).all()


def test_legends_never_exceed_the_limit(rows):
    for points in (explorer.precision_points(rows), explorer.scaling_points(rows)):
        points, palettes = explorer.legends(points)
        views = set(points.view)
        assert set(palettes) >= {f"{v}|{explorer.ALL}" for v in views}
        for key, (entries, colours) in palettes.items():
            view, choice = key.rsplit("|", 1)
            shown = points[(points.view == view) & ((choice == explorer.ALL) | (points.group == choice))]
            assert 0 < len(entries) <= style.MAX_LEGEND and len(colours) == style.MAX_LEGEND
            assert set(shown.key_all if choice == explorer.ALL else shown.key) == set(entries)
    # the scaling study's 17 solvers: every family at once is a legend of the 3 families; one family, its solvers
    points, palettes = explorer.legends(explorer.scaling_points(rows))
    entries, colours = palettes["scaling: spd-box, float64, cpu|all"]
    assert entries == ["classical (10 solvers)", "matmul-only (3 solvers)", "network (4 solvers)"]
    entries, colours = palettes["scaling: spd-box, float64, cpu|classical"]
    assert len(entries) == 10 and entries[0] == "Cholesky"
    assert colours[:10] == [to_hex(c) for c in style.colours((e, "direct") for e in entries).values()]  # blues


def test_filters_and_legend_as_vega_draws_them(rows):
    """The drop-downs' filters and the legend, evaluated by Vega itself (vl-convert)."""
    wp, sc = explorer.precision_points(rows), explorer.scaling_points(rows)
    wp = wp[wp.view.isin(["paper-2x2-1st", "paper-dir:matrix_3_dataset"])]  # a few views: quicker to draw
    sc = sc[sc.view.isin(["scaling: spd-box, float64, cpu", "scaling-float32: spd-box, float32, cpu"])]
    spec = explorer.build_chart(wp, sc).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert [p["name"] for p in spec["params"] if isinstance(p.get("bind"), dict)] == [
        "pick_dataset", "pick_study", "pick_family"]
    assert params["pick_family"]["bind"]["options"] == ["all", "classical", "matmul-only", "network"]
    dataset, study = params["pick_dataset"]["value"], params["pick_study"]["value"]
    assert (dataset, study) == ("paper-2x2-1st", "scaling: spd-box, float64, cpu")
    legends = [leg for mark in vlc.vegalite_to_vega(spec)["marks"] for leg in mark.get("legends", [])]
    assert len(legends) == 2 and all(leg["encode"]["symbols"].get("interactive") for leg in legends)  # click to pick
    svg = vlc.vegalite_to_svg(spec)
    assert svg.count(POINT) == (wp.view == dataset).sum() + (sc.view == study).sum()
    _, palettes = explorer.legends(wp)
    entries, colours = palettes[f"{dataset}|all"]
    assert legend(svg, 0) == list(zip(colours, entries)) and len(entries) == 12  # each solver its colour
    assert [label for _, label in legend(svg, 1)] == ["classical (10 solvers)", "matmul-only (3 solvers)",
                                                      "network (4 solvers)"]
    params["pick_family"]["value"] = "network"
    params["pick_dataset"]["value"] = "paper-dir:matrix_3_dataset"
    params["pick_study"]["value"] = "scaling-float32: spd-box, float32, cpu"
    svg = vlc.vegalite_to_svg(spec)
    nets_wp = wp[(wp.view == "paper-dir:matrix_3_dataset") & (wp.family == "learned")]
    nets_sc = sc[(sc.view == "scaling-float32: spd-box, float32, cpu") & (sc.family == "learned")]
    assert 0 < len(nets_wp) and svg.count(POINT) == len(nets_wp) + len(nets_sc)
    assert {label for _, label in legend(svg, 1)} == set(nets_sc.label) and len(set(nets_sc.label)) == 4


def test_page_is_the_report_and_loads_nothing(page):
    text = page.read_text()
    assert loads_nothing(text) == []
    assert loads_nothing('<img src="https://x/y.png"><script src="//cdn/v.js"></script>'
                         '<link rel="stylesheet" href="http://x/s.css"><style>a{background:url(http://x)}</style>'
                         '<img src="data:image/png;base64,AA">') == [
        "<img src=https://x/y.png>", "<script src=//cdn/v.js>", "<link href=http://x/s.css>", "url(http://x)"]
    report = (RESULTS / "REPORT.md").read_text()
    tags = Tags(text)
    want = markdown_headings(report)
    assert len(want) > 60 and tags.headings[:len(want)] == want  # every heading of REPORT.md, in its order
    assert tags.headings[len(want):] == [(2, "Explorer")]
    images = [a["src"] for t, a in tags.tags if t == "img"]
    assert len(images) == report.count("![") and all(s.startswith("data:image/svg+xml;base64,") for s in images)
    assert sum(t == "table" for t, _ in tags.tags) == sum(1 for line in report.splitlines()
                                                          if re.match(r"^\|[-:| ]+\|$", line))
    assert page.stat().st_size < 6e6


@pytest.mark.slow
def test_page_in_a_browser_shows_text_and_figures_from_its_top(page, tmp_path):
    browser()  # skip when there is none
    shot = tmp_path / "page.png"
    dom, console = chromium(page, tmp_path / "profile", "--dump-dom", f"--screenshot={shot}")
    assert console == [], console  # no uncaught error, no Vega warning
    tags = Tags(dom)
    count = {name: sum(t == name for t, _ in tags.tags) for name in ("h1", "h2", "img", "svg", "canvas", "select")}
    figures = (RESULTS / "REPORT.md").read_text().count("![")  # every figure of the report, drawn
    assert count["h1"] == 1 and count["h2"] >= 10 and count["img"] == figures > 0
    assert count["select"] == 3 and count["svg"] >= 1 and 'class="marks"' in dom and "JavaScript Error" not in dom
    for chart in (0, 1):
        assert 2 <= len(legend(dom, chart)) <= style.MAX_LEGEND
    assert ink(shot, 0, 800) > 0.03  # the title, the opening text and the headline figure
    assert all(ink(shot, top, top + 400) > 0.01 for top in range(0, WINDOW[1], 400))  # no blank band
    # the checks can fail: a blank page with an uncaught error
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notAFunction()</script></body></html>")
    _, console = chromium(bad, tmp_path / "profile-bad", f"--screenshot={tmp_path / 'bad.png'}")
    assert any("Uncaught" in m for m in console) and ink(tmp_path / "bad.png", 0, WINDOW[1]) == 0


def test_report_html_from_the_command_line(tmp_path, capsys):
    root = tmp_path / "results"
    df = results.read_results(RESULTS / "scaling-float32")
    df = df[df.solver.isin(["lu", "qr"]) & df.n.isin([2, 4, 8]) & (df.status == "ok")]
    results.write_tables(df, root / "scaling")
    summary.write(root / "scaling", df, "part of the scaling study", "matinv-bench scaling", summary.run_body(df))
    (root / "manifest.toml").write_text('[[set]]\nname = "scaling"\nfolder = "results/scaling"\n'
                                        'command = "matinv-bench scaling --out results/scaling"\n')
    assert main(["report", "--results", str(root), "--html"]) == 0
    assert f"wrote {root / 'REPORT.html'}" in capsys.readouterr().out
    text = (root / "REPORT.html").read_text()
    tags = Tags(text)
    assert tags.headings[:4] == [
        (1, "matinv-bench report"),
        (2, "Headline"),
        (2, "Where the numbers come from"),
        (2, "Tables 1 and 2: the paper's datasets"),
    ]
    assert (2, "Scaling: O(n^3) against O(n^4)") in tags.headings and tags.headings[-1] == (2, "Explorer")
    assert "Made by: <code>matinv-bench scaling</code>" in text and loads_nothing(text) == []
    sc = explorer.scaling_points(explorer.timed_rows(root))
    assert set(sc.view) == {"scaling: spd-box, float32, cpu"} and len(sc) == 6 and (sc.samples == 3).all()
    assert '"pick_study"' in text


def test_no_timed_rows_no_report_and_missing_extra(tmp_path, monkeypatch):
    root = tmp_path / "results"
    root.mkdir()  # the listed folder does not exist: the report notes it missing
    (root / "manifest.toml").write_text('[[set]]\nname = "regions"\nfolder = "results/regions"\n'
                                        'command = "matinv-bench reproduce regions --out results/regions"\n')
    with pytest.raises(ReportError, match="no such report"):
        html.write_html(root / "REPORT.md", root)
    assert main(["report", "--results", str(root), "--html"]) == 0
    text = (root / "REPORT.html").read_text()
    assert "nothing to explore" in text and "vegaEmbed" not in text and "What the network learned" in text
    for src in ("report/gone.png", "https://example.org/x.png"):  # a figure is embedded, or the page is not written
        (root / "REPORT.md").write_text(f"# r\n\n![figure]({src})\n")
        with pytest.raises(ReportError, match=re.escape(src)):
            html.write_html(root / "REPORT.md", root, tmp_path / "x.html")
    for module in ("vl_convert", "markdown_it"):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, module, None)
            with pytest.raises(UserError, match=rf"html extra \({module} is missing\)"):
                html.write_html(RESULTS / "REPORT.md", RESULTS, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
