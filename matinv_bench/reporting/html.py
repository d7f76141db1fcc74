"""``matinv-bench report --html``: the report as one self-contained HTML page, with an explorer.

The page is the Markdown report that ``report`` has just written (``REPORT.md``), rendered by
markdown-it-py (CommonMark with tables): every heading, paragraph, table and figure of it, in its
order. Every figure it links is embedded as a data URI: its SVG twin where there is one (vector,
text kept as text), else the PNG. A contents list at the side links every section. After the
report comes the interactive explorer (:mod:`~matinv_bench.reporting.explorer`: Altair/Vega-Lite,
its data and the Vega, Vega-Lite and vega-embed scripts inlined, from ``vl-convert-python``), so
the page loads nothing from anywhere: it shows the same offline, from any folder.

markdown-it-py, Altair and vl-convert come with the ``html`` extra; without them
:func:`write_html` raises a one-line UserError.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

from matinv_bench.errors import ReportError, UserError
from matinv_bench.reporting.results import write_text

EXPLORER = "explorer"  # the id of the explorer's section
LONG_CELL = 60  # characters: a table cell longer than this wraps; shorter ones keep to one line
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?( ± \S+)?%?$", re.IGNORECASE)
_MIME = {".svg": "image/svg+xml", ".png": "image/png"}

STYLE = """
:root { --text: #1d2125; --muted: #5b636b; --rule: #d8dde2; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--text); background: #fff; }
nav { position: fixed; top: 0; left: 0; bottom: 0; width: 270px; overflow-y: auto; padding: 24px 16px 24px 22px;
      border-right: 1px solid var(--rule); background: #f7f8fa; font-size: 14px; line-height: 1.35; }
nav p { margin: 0 0 10px; font-weight: 700; font-size: 15px; }
nav ul { list-style: none; margin: 0; padding: 0; }
nav li { margin: 0 0 7px; }
nav li.sub { padding-left: 14px; font-size: 13px; }
nav a { color: var(--text); text-decoration: none; }
nav a:hover { color: var(--accent); text-decoration: underline; }
main { margin-left: 270px; padding: 28px 40px 60px; max-width: 1130px; }
h1 { font-size: 30px; margin: 0 0 12px; }
h2 { font-size: 24px; margin: 44px 0 12px; padding-top: 10px; border-top: 2px solid var(--rule); }
h3 { font-size: 19px; margin: 30px 0 10px; }
h4, h5, h6 { font-size: 16px; margin: 22px 0 8px; }
a { color: var(--accent); }
code { font: 0.9em/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: #f1f3f5; padding: 0 3px;
       border-radius: 3px; }
p > img { display: block; width: 100%; max-width: 1040px; height: auto; margin: 8px 0; }
.table { overflow-x: auto; margin: 10px 0 16px; }
table { border-collapse: collapse; font-size: 13px; line-height: 1.35; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: #f1f3f5; border-bottom: 2px solid var(--rule); }
td { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.long { white-space: normal; min-width: 18em; }
tbody tr:hover { background: #f7f9fc; }
#explorer-note { color: var(--muted); }
#explorer-chart.vega-embed { display: flex; flex-direction: column; }
#explorer-chart .vega-bindings { order: -1; display: flex; flex-wrap: wrap; gap: 8px 22px; margin: 0 0 14px;
                                 font-size: 14px; }
#explorer-chart .vega-bind-name { font-weight: 600; }
#explorer-chart select { font-size: 14px; padding: 3px 4px; max-width: 420px; }
#vg-tooltip-element { font-size: 13px; }
"""


def _require() -> None:
    """UserError naming the ``html`` extra when a library of it is missing."""
    try:
        import altair  # noqa: F401
        import markdown_it  # noqa: F401
        import vl_convert  # noqa: F401  (the inlined Vega scripts come from it)
    except ImportError as exc:
        raise UserError(f"the HTML report needs the html extra ({exc.name} is missing): "
                        "pip install 'matinv-bench[html]'") from None


def data_uri(path: Path) -> str:
    """The figure ``path`` as a data URI: its SVG twin where there is one, else the file itself."""
    svg = path.with_suffix(".svg")
    chosen = svg if svg.is_file() else path
    mime = _MIME.get(chosen.suffix.lower())
    if mime is None or not chosen.is_file():
        raise ReportError(f"{path}: the report links a figure that is missing or not a PNG or SVG")
    return f"data:{mime};base64,{base64.b64encode(chosen.read_bytes()).decode('ascii')}"


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def render_markdown(text: str, folders: list[Path]) -> tuple[str, list[tuple[int, str, str]]]:
    """(HTML, headings) of the Markdown ``text``: each heading gets an id (the headings are returned
    as (level, id, text)), each image's source becomes a data URI of the file it names (looked up in
    ``folders``, in order), tables are wrapped to scroll sideways, numeric cells right-aligned, and
    only cells longer than :data:`LONG_CELL` characters wrap."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    used: set[str] = set()
    headings = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            title = "".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline"))
            tok.attrSet("id", _slug(title, used))
            headings.append((int(tok.tag[1]), tok.attrGet("id"), title))
        elif tok.type == "td_open":
            cell = tokens[i + 1].content.strip()
            if _NUMBER.match(cell):
                tok.attrSet("class", "num")
            elif len(cell) > LONG_CELL:
                tok.attrSet("class", "long")
        elif tok.type == "inline":
            for child in tok.children or []:
                if child.type == "image":
                    src = str(child.attrGet("src"))
                    local = not re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE)  # no URL, no data URI
                    found = next((f / src for f in folders if local and (f / src).is_file()), None)
                    if found is None:
                        raise ReportError(f"{src}: the report links a figure that is not a file beside it")
                    child.attrSet("src", data_uri(found))
    body = md.renderer.render(tokens, md.options, {})
    body = body.replace("<table>", '<div class="table"><table>').replace("</table>", "</table></div>")
    return body, headings


def _contents(headings: list[tuple[int, str, str]], explorer: bool) -> str:
    items = [f'<li class="{"sub" if level == 3 else "top"}"><a href="#{ident}">{html.escape(title)}</a></li>'
             for level, ident, title in headings if level in (2, 3)]
    if explorer:
        items.append(f'<li class="top"><a href="#{EXPLORER}">Explorer: every timed row, interactive</a></li>')
    return "<nav><p>Contents</p><ul>" + "".join(items) + "</ul></nav>"


def _script_json(data) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def explorer_section(root: Path) -> tuple[str, str, str]:
    """(section HTML, script bundle, embedding script) of the explorer for the results folder ``root``;
    a note and no script when it holds no timed row."""
    import altair as alt
    import vl_convert as vlc
    from altair.vegalite import SCHEMA_VERSION

    from matinv_bench.reporting import explorer, style

    rows = explorer.timed_rows(root)
    wp, sc = explorer.precision_points(rows), explorer.scaling_points(rows)
    head = f'<section id="{EXPLORER}"><h2>Explorer</h2>'
    if wp.empty and sc.empty:
        return (head + '<p id="explorer-note">No listed result set has a timed results table, so there is '
                "nothing to explore.</p></section>", "", "")
    with alt.data_transformers.enable("default", max_rows=None):
        spec = explorer.build_chart(wp, sc).to_dict()
    note = ("Every ok, timed row of the listed result sets, one view at a time: pick a dataset for the error "
            "against time per matrix, a study for the time per matrix against n, and a solver family for both. "
            "Seeds are aggregated (mean, with bars from the smallest to the largest); hover over a point for its "
            "numbers. The legend lists the solvers shown, or their families where more than "
            f"{style.MAX_LEGEND} are shown at once; a click on an entry fades the others, a double click "
            "shows all again.")
    bundle = vlc.javascript_bundle(vl_version="_".join(SCHEMA_VERSION.split(".")[:2]))
    embed = (f"vegaEmbed('#explorer-chart', {_script_json(spec)}, "
             '{"renderer": "svg", "actions": false}).catch(console.error);')
    return (head + f'<p id="explorer-note">{html.escape(note)}</p><div id="explorer-chart"></div></section>',
            bundle, embed)


def page(report: Path, root: Path) -> str:
    """The page's HTML: the Markdown ``report`` (figures looked up beside it, then in ``root``) and
    the explorer of the results folder ``root``."""
    body, headings = render_markdown(report.read_text(), [report.parent, root])
    section, bundle, embed = explorer_section(root)
    title = next((t for level, _, t in headings if level == 1), "matinv-bench report")
    bundle = bundle.replace("</script", "<\\/script")  # a script's text may not close its element
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>",
        f"<script>{bundle}</script>" if bundle else "",
        "</head>", "<body>", _contents(headings, bool(embed)), "<main>", body, section, "</main>",
        f"<script>{embed}</script>" if embed else "", "</body>", "</html>", ""])


def write_html(report: Path | str, root: Path | str, out: Path | str | None = None) -> Path:
    """Write the page of the Markdown ``report`` (as ``report`` writes it) and of the results folder
    ``root`` to ``out`` (default: ``report`` with the suffix ``.html``); return its path.

    ReportError when the report or a figure it links is missing; UserError when the ``html`` extra is."""
    _require()
    report, root = Path(report), Path(root)
    if not report.is_file():
        raise ReportError(f"{report}: no such report (`matinv-bench report` writes it)")
    out = Path(out) if out is not None else report.with_suffix(".html")
    write_text(out, page(report, root))
    return out
