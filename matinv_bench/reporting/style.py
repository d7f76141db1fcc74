"""The one look of every figure: sizes, colours, markers, labels, and how figures are saved.

Contract for a figure drawn here:

- sized for the README's width (:data:`WIDTH` inches; text of :data:`RC` sizes stays readable
  when the PNG is shown 800-900 pixels wide);
- colours by solver family, in three colour families (:func:`group`): blues for classical
  solvers (family ``direct``), greens for matmul-only ones (``iterative``, ``approximation``),
  reds for networks (``learned``); shades tell the members of a family apart (:func:`colours`);
- markers tell variants apart (:data:`MARKERS`); every axis is labelled with its unit;
- the title states the finding (computed from the rows by the figure's module);
- :func:`save` writes an SVG twin beside the PNG, and keeps the PNG under :data:`MAX_PNG_BYTES`
  (by lowering the resolution if needed).

Everything is drawn with matplotlib's Agg backend inside :func:`context`.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator  # noqa: E402

from matinv_bench.analysis.rows import GROUPS, group_of, recipe_of  # noqa: E402, F401  (GROUPS: the figures' families)
from matinv_bench.reporting.results import atomic_write  # noqa: E402
from matinv_bench.specs import SpecError, parse_spec  # noqa: E402

WIDTH = 7.6  # inches: the README shows a figure about 830 pixels wide
DPI = 150
MAX_PNG_BYTES = 300 * 1024
MAX_LEGEND = 12  # entries per figure
MAX_PANELS = 8

RC = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.title_fontsize": 8, "figure.titlesize": 11, "figure.titleweight": "bold",
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "lines.linewidth": 1.6, "lines.markersize": 5, "legend.frameon": False,
    "svg.fonttype": "none", "svg.hashsalt": "matinv-bench", "savefig.dpi": DPI, "figure.dpi": DPI,
    "axes.titlelocation": "left", "figure.constrained_layout.use": True,
}

_CMAP = {"classical": "Blues", "matmul-only": "Greens", "network": "Reds", "other": "Greys"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
GUIDE = "0.35"  # colour of guide lines (n^3, slope 2, theta = 1)
WALL = "#7a0177"  # the memory wall


@contextlib.contextmanager
def context() -> Iterator[None]:
    """The rcParams of every figure (see :data:`RC`)."""
    with plt.rc_context(RC):
        yield


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots``; call inside :func:`context`."""
    return plt.subplots(*args, **kwargs)


group = group_of  # the figures' three families


def colours(members: Iterable[tuple[str, str]]) -> dict[str, tuple]:
    """A colour per label from ``(label, family)`` pairs: the family's colour map, one shade per
    label in order of first appearance (darkest first), far enough apart to tell neighbours apart."""
    by_group: dict[str, list[str]] = {}
    for label, family in members:
        g = by_group.setdefault(group(family), [])
        if label not in g:
            g.append(label)
    out = {}
    for g, labels in by_group.items():
        cmap = plt.get_cmap(_CMAP[g])
        shades = [0.85] if len(labels) == 1 else np.linspace(0.95, 0.45, len(labels))
        out.update({label: cmap(s) for label, s in zip(labels, shades)})
    return out


def group_order(family: str) -> int:
    g = group(family)
    return GROUPS.index(g) if g in GROUPS else len(GROUPS)


_NAMES = {"mlp-2fc": "2-FC", "mlp-3fc": "3-FC", "lu": "LU", "qr": "QR", "linear-approx": "linear approx.",
          "neumann": "Neumann", "newton-schulz": "Newton-Schulz", "gauss-jordan": "Gauss-Jordan",
          "cholesky": "Cholesky", "numpy-inv": "numpy.inv", "torch-inv": "torch.inverse"}
_HIDDEN = {"recipe", "seed", "dtype", "device"}  # parameters a figure shows elsewhere, or not at all


def pretty(spec: str, keep: Sequence[str] = ()) -> str:
    """A short legend label for a solver spec: ``mlp-2fc[hidden=8n^2,recipe=none]`` -> ``2-FC, h=8n²``,
    ``neumann[order=3]`` -> ``Neumann, order=3``. Seed, recipe, dtype and device are left out
    unless named in ``keep``; a spec that does not parse is returned as it is."""
    try:
        name, params = parse_spec(str(spec))
    except SpecError:
        return str(spec)
    shown = [f"{'h' if k == 'hidden' else k}={v}" for k, v in params.items() if k not in _HIDDEN or k in keep]
    text = ", ".join([_NAMES.get(name, name), *shown])
    return re.sub(r"n\^2", "n²", text)


recipe = recipe_of


def without(spec: str, *keys: str) -> str:
    """The spec with the parameters ``keys`` removed (``mlp-2fc[recipe=fast,seed=1]`` -> ``mlp-2fc[recipe=fast]``)."""
    try:
        name, params = parse_spec(str(spec))
    except SpecError:
        return str(spec)
    kept = [f"{k}={v}" for k, v in params.items() if k not in keys]
    return f"{name}[{','.join(kept)}]" if kept else name


_FILE = r"^(\w+-?\w*):.*/([^/]+)$"  # a file dataset (``paper-dir:PATH``) is shown by its file name


def shown(dataset: str) -> str:
    """A dataset as figures and the explorer name it: a file dataset by its file name
    (``paper-dir:../shared/paper-data/matrix_3_dataset`` -> ``paper-dir:matrix_3_dataset``)."""
    return re.sub(_FILE, r"\1:\2", str(dataset))


_STEPS = (1, 2, 3, 4, 5, 10, 15, 20, 25, 30, 50, 100)


def log_axis(ax, axis: str = "y", max_labels: int = 6) -> None:
    """Call after plotting: a log axis with major ticks (labelled ``10⁻⁶``, with grid lines) every
    k decades, k the smallest of :data:`_STEPS` that leaves at most ``max_labels`` labels, and
    unlabelled minor ticks. A range under two decades is widened to the powers of ten around it,
    labelled at each (matplotlib would label its minor ticks, which overlap on a narrow panel).
    Long ranges stay free of overlapping labels."""
    a = getattr(ax, f"{axis}axis")
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    decades = np.log10(hi) - np.log10(lo)
    if np.isfinite(decades) and 0 < decades < 2:
        lo, hi = 10.0 ** np.floor(np.log10(lo)), 10.0 ** np.ceil(np.log10(hi))
        (ax.set_ylim if axis == "y" else ax.set_xlim)(lo, hi)
        a.set_major_locator(LogLocator(base=10.0, subs=(1.0,), numticks=200))
        a.set_major_formatter(FuncFormatter(lambda v, _: power(v)))
        a.set_minor_formatter(NullFormatter())
        return
    if not np.isfinite(decades) or decades < 2:
        return
    every = next((k for k in _STEPS if decades / k <= max_labels), _STEPS[-1])
    a.set_major_locator(LogLocator(base=10.0**every, subs=(1.0,), numticks=200))
    a.set_minor_locator(LogLocator(base=10, subs=(1.0,) if every > 1 else np.arange(2, 10) * 0.1, numticks=200)
                        if decades < 40 else NullLocator())
    a.set_major_formatter(FuncFormatter(lambda v, _: power(v)))
    a.set_minor_formatter(NullFormatter())


MAX_SIZE_LABELS = 7  # labelled sizes on an axis of n at most (a panel is about a third of the width)


def size_axis(ax, ns: Iterable[float]) -> None:
    """An x axis of matrix sizes n on a log scale, ticks at the powers of two in the data's range."""
    ns = np.asarray(list(ns), dtype=float)
    ax.set_xscale("log", base=2)
    ticks = [2.0**k for k in range(int(np.floor(np.log2(ns.min()))), int(np.ceil(np.log2(ns.max()))) + 1)]
    step = int(np.ceil(len(ticks) / MAX_SIZE_LABELS))  # 2 .. 2048 labelled at every power overlaps
    labelled = ticks[::-1][::step][::-1]  # the largest size always labelled
    ax.xaxis.set_major_locator(FixedLocator(labelled))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(FixedLocator([t for t in ticks if t not in labelled]) if step > 1 else NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power(v: float) -> str:
    """``10⁻⁶`` for 1e-6 (``1`` and ``10`` plain); empty for a value that is no power of ten."""
    if v <= 0:
        return ""
    e = int(round(np.log10(v)))
    if abs(np.log10(v) - e) > 1e-6:
        return ""
    return {0: "1", 1: "10"}.get(e, f"10{str(e).translate(_SUP)}")


def handle(colour, marker: str | None = None, ls: str = "-", lw: float = 1.6, **kw) -> Line2D:
    """A legend entry's artist (a short line with an optional marker)."""
    return Line2D([], [], color=colour, marker=marker, ls=ls, lw=lw, **kw)


def legend_below(fig, handles: Sequence, labels: Sequence[str], ncol: int = 3, limit: int | None = MAX_LEGEND, **kw):
    """One legend for the whole figure, below the panels: at most ``limit`` entries (ValueError
    beyond; the report's figures keep :data:`MAX_LEGEND`). ``limit=None`` takes every entry, for
    a figure of a user's own run with as many solvers as they asked for, in up to 4 columns."""
    if limit is not None and len(labels) > limit:
        raise ValueError(f"{len(labels)} legend entries; a figure shows at most {limit}")
    if len(labels) > MAX_LEGEND:
        ncol = max(ncol, 4)
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kw)


def legend_beside(fig, handles: Sequence, labels: Sequence[str], **kw):
    """One legend for the whole figure, right of its one panel (a square panel leaves room there):
    at most :data:`MAX_LEGEND` entries (ValueError beyond)."""
    if len(labels) > MAX_LEGEND:
        raise ValueError(f"{len(labels)} legend entries; a figure shows at most {MAX_LEGEND}")
    return fig.legend(handles, labels, loc="outside right center", ncol=1, **kw)


LEGEND_GAP = 0.3  # inches at least between two family legends
LEGEND_BAND = 0.4  # the most of a figure's height the family legends' band may take


def group_legends(fig, groups: Sequence[tuple[str, Sequence, Sequence[str]]], limit: int | None = MAX_LEGEND,
                  one_title: str | None = None):
    """Below the panels, one legend per solver family group (:data:`GROUPS`), side by side, top
    aligned, each titled with its group (``groups``: ``(title, handles, labels)`` in order), so that
    the families read apart at a glance; at most ``limit`` entries in all (ValueError beyond). The
    panels keep the figure above them (the layout's ``rect``). One group: one :func:`legend_below`
    titled with it; legends wider together than the figure or taller than :data:`LEGEND_BAND` of it,
    or more than :data:`MAX_LEGEND` entries (a user's own run, ``limit=None``): one
    :func:`legend_below` of every entry, titled ``one_title`` (what the groups' titles said that the
    entries do not, or nothing). Returns the legends."""
    labels = [lab for _, _, labs in groups for lab in labs]
    if limit is not None and len(labels) > limit:
        raise ValueError(f"{len(labels)} legend entries; a figure shows at most {limit}")
    bold = {"weight": "bold", "size": RC["legend.title_fontsize"]}
    if len(groups) == 1:
        name, handles, labs = groups[0]
        return [legend_below(fig, handles, labs, limit=limit, title=name, alignment="left", title_fontproperties=bold)]
    every = ([h for _, hs, _ in groups for h in hs], labels)
    below = {"title": one_title, "alignment": "left", "title_fontproperties": bold} if one_title else {}
    if len(labels) > MAX_LEGEND:
        return [legend_below(fig, *every, limit=limit, **below)]
    legends = [fig.legend(handles, labs, loc="upper left", title=name, alignment="left", title_fontproperties=bold)
               for name, handles, labs in groups]
    inches = fig.dpi_scale_trans.inverted()
    boxes = [lg.get_window_extent(fig.canvas.get_renderer()).transformed(inches) for lg in legends]
    width, height = fig.get_figwidth(), fig.get_figheight()
    free = width - sum(b.width for b in boxes)
    strip = (max(b.height for b in boxes) + 0.1) / height  # the legends' band, a fraction of the figure
    if free < LEGEND_GAP * (len(boxes) + 1) or strip > LEGEND_BAND:
        for lg in legends:
            lg.remove()
        return [legend_below(fig, *every, limit=limit, **below)]
    x = 0.0
    for lg, b in zip(legends, boxes):
        x += free / (len(boxes) + 1)
        lg.set_bbox_to_anchor((x / width, strip), transform=fig.transFigure)
        x += b.width
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().set(rect=(0, strip, 1, 1 - strip))
    return legends


def title(fig, finding: str) -> None:
    """The figure's title: the finding, left-aligned above the panels, wrapped to the figure's width."""
    text = fig.suptitle(finding, x=0.01, ha="left")
    renderer = fig.canvas.get_renderer()
    width = 0.97 * fig.get_figwidth() * fig.dpi
    chars = len(finding)
    while text.get_window_extent(renderer).width > width and chars > 20:
        chars = int(chars * 0.92)
        text.set_text(textwrap.fill(finding, chars, break_on_hyphens=False))


def save(fig, path: Path | str) -> list[Path]:
    """Write ``path`` (PNG, at most :data:`MAX_PNG_BYTES`: the resolution is lowered until it fits)
    and its SVG twin ``path.with_suffix('.svg')``, each atomically; close the figure. Returns both paths."""
    path = Path(path)
    svg = path.with_suffix(".svg")
    with context():
        for dpi in (DPI, 130, 110, 96, 80):
            atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", metadata={"Software": None}))
            if path.stat().st_size <= MAX_PNG_BYTES:
                break
        atomic_write(svg, lambda tmp: fig.savefig(tmp, format="svg", metadata={"Date": None}))
    plt.close(fig)
    return [path, svg]
