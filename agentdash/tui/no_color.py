"""The dashboard without color (NO_COLOR=1), every word still readable.

Textual turns each color into the grey of its brightness. Red is dark, and the dashboard's
backgrounds are dark too: `starved` in red, and the header's `pods 24/24` at the cluster's cap,
came out as #3B3B3B on #2D2D2D, which no eye reads. A grey that stands too close to its
background is drawn in white or black instead, whichever its background sets off; the style's
bold stays, and that tells the alarm from the plain text around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter, Monochrome, monochrome_style

LEAST_CONTRAST = 0.3
"""The least difference of brightness (0 to 1) between a grey text and its grey background;
the plain text of the dashboard stands 0.5 or more from its background."""
DRAWING = ("\u2500", "\u259f")
"""Box drawing and block elements: lines, edges and sparklines, left the grey Textual gives
them; except in bold, as a bar's fill is drawn (render.budget_bar): how full a bar is is read
as a word is. A spent budget's bar, red, was #3B3B3B on the table's #1E1E1E."""


class ReadableMonochrome(Monochrome):
    """Monochrome, with a word that would stand too close to its background drawn in white or
    black."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            Segment(text, _grey(text, style, background), control)
            for text, style, control in segments
        ]


def _grey(text: str, style: Style | None, background: Color) -> Style | None:
    if style is None:
        return None
    drawn = all(c.isspace() or DRAWING[0] <= c <= DRAWING[1] for c in text)
    if drawn and not style.bold:
        return monochrome_style(style)  # a border, a scroll bar, a sparkline: faint on purpose
    return readable(style, background)


@lru_cache(1024)  # as Textual's monochrome_style: a screen has few styles
def readable(style: Style, background: Color) -> Style:
    grey = monochrome_style(style)
    if grey.color is None or grey.color.is_default:
        return grey
    text = Color.from_rich_color(grey.color)
    under = background.monochrome
    if grey.bgcolor is not None and not grey.bgcolor.is_default:
        under = Color.from_rich_color(grey.bgcolor)
    if abs(text.brightness - under.brightness) >= LEAST_CONTRAST:
        return grey
    contrast = under.get_contrast_text(1.0)
    return grey + Style(color=RichColor.from_rgb(*contrast.rgb))


def readable_filters(filters: Sequence[LineFilter]) -> list[LineFilter]:
    """`filters` with Textual's Monochrome, where NO_COLOR put it, made readable."""
    return [_readable_one(f) if type(f) is Monochrome else f for f in filters]


@lru_cache(8)  # the same filter for every line drawn, as Textual keeps its own
def _readable_one(_monochrome: Monochrome) -> ReadableMonochrome:
    return ReadableMonochrome()
