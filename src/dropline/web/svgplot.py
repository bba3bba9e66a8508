"""Matplotlib figures as inline SVG for the pages: the glue shared by ``web/chart.py``
and ``web/gantt.py``.

Why matplotlib: the charts need bars and a line on one set of axes, vertical markers
with labels and a Gantt chart (horizontal bars with an offset); pygal draws none of
the three (combined bar and line charts are open feature requests there). Matplotlib's
SVG backend writes plain SVG with no script and no external reference, so the pages
stay within their Content-Security-Policy, work without network or a build step, and
print.

Matplotlib is imported lazily (``pyplot`` never: it keeps global figure state; a bare
``Figure`` is safe to use from the web server's threads), so a process that never
draws a chart never pays for the import.

What ``to_svg`` does to matplotlib's document, and why:

- the XML prolog, DOCTYPE and RDF metadata go (the SVG is embedded in HTML); the root
  element gets the caller's ``id`` and ``class``, ``role="img"``, an ``aria-label`` and
  a ``<title>`` (accessible name), and loses its fixed ``width``/``height`` so the CSS
  scales it to the width of its box;
- ``xlink:href`` becomes SVG 2's plain ``href``, so no namespace declaration is needed;
- matplotlib's own element ids (``figure_1``, ``axes_1``, ...) go, since a page holds
  several charts and ids must be unique on a page; ids that something refers to (clip
  paths, tick marks: random per figure) stay;
- an artist marked with ``mark(artist, css_class, title, **data)`` is drawn in a
  ``<g class="css_class" data-...>`` with a ``<title>`` (a tooltip), which the pages'
  tests and the browser find by class (``.sellout``, ``.cue``, ``.bar``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

#: Pixels per inch of the SVG's user units (matplotlib's SVG backend uses 72).
DPI = 72


def figure(width_px: float, height_px: float) -> Figure:
    """A blank figure of ``width_px`` × ``height_px`` SVG user units, matplotlib loaded
    and set up on first use."""
    _setup()
    from matplotlib.figure import Figure

    return Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)


_READY = False


def _setup() -> None:
    """Settings read by the SVG backend when it draws (global by matplotlib's design,
    so set once): text stays ``<text>`` (selectable, searchable, smaller) instead of
    glyph outlines, and the font is the browser's sans-serif."""
    global _READY
    if _READY:
        return
    import matplotlib

    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.family": "sans-serif",
            # one named font (what the text was measured with), then the browser's own
            "font.sans-serif": ["DejaVu Sans"],
            "font.size": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    _READY = True


def plain(text: str) -> str:
    """``text`` as matplotlib should print it: a ``$`` would start mathtext."""
    return text.replace("$", r"\$")


def days(value: date | datetime) -> float:
    """``value`` on matplotlib's date axis (days since its epoch; a date is its UTC
    midnight). One typed place for ``matplotlib.dates.date2num``, which has no hints."""
    from matplotlib import dates

    number: float = dates.date2num(value)  # type: ignore[no-untyped-call]
    return number


def date_axis(axis: Axis, fmt: str, *, minticks: int = 4, maxticks: int = 10) -> None:
    """Ticks on ``axis`` at round times chosen by matplotlib, labelled with ``fmt``
    (``strftime``) in UTC."""
    from matplotlib import dates

    locator = dates.AutoDateLocator(tz=UTC, minticks=minticks, maxticks=maxticks)  # type: ignore[no-untyped-call]
    axis.set_major_locator(locator)
    axis.set_major_formatter(dates.DateFormatter(fmt, tz=UTC))  # type: ignore[no-untyped-call]


@dataclass
class Marks:
    """The artists to wrap in a classed ``<g>`` with a tooltip (see the module doc)."""

    by_gid: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)

    def mark(self, artist: Artist, css_class: str, title: str, **data: str) -> None:
        gid = f"dlmark{len(self.by_gid)}x"
        artist.set_gid(gid)
        self.by_gid[gid] = (css_class, title, data)


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ROOT = re.compile(r"<svg\b[^>]*>")
_MARK = re.compile(r'<g id="(dlmark\d+x)">')
_ID = re.compile(r'\sid="([^"]+)"')


def to_svg(
    fig: Figure,
    *,
    element_id: str,
    css_class: str,
    title: str,
    marks: Marks | None = None,
    attrs: Mapping[str, str] | None = None,
) -> str:
    """The figure as an ``<svg>`` element to put inline in a page (module doc)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1), count=1)
    root = _ROOT.search(text)
    assert root is not None, "matplotlib wrote no <svg> element"
    view_box = re.search(r'viewBox="([^"]+)"', root.group(0))
    extra = "".join(f' {k}="{escape(v)}"' for k, v in (attrs or {}).items())
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" '
        f'id="{escape(element_id)}" viewBox="{view_box.group(1) if view_box else ""}" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}"'
        f"{extra}><title>{escape(title)}</title>"
    )
    body = text[root.end() :]
    # matplotlib's "*{...}" style would reach the whole page: keep it to this chart
    body = body.replace("*{stroke-linejoin", f"#{element_id} *{{stroke-linejoin")
    found = marks.by_gid if marks else {}

    def group(m: re.Match[str]) -> str:
        css, tip, data = found[m.group(1)]
        data_attrs = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
        return f'<g class="{escape(css)}"{data_attrs}><title>{escape(tip)}</title>'

    body = _MARK.sub(group, body).replace("xlink:href=", "href=")  # SVG 2: no xlink namespace
    used = set(re.findall(r"#([\w.-]+)\)?\"", body))

    def keep_used(m: re.Match[str]) -> str:
        return m.group(0) if m.group(1) in used else ""

    return head + _ID.sub(keep_used, body)
