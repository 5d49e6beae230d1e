"""Words and scales on pictures: a title strip over a panel, a colour bar beside a signed map, and 1-D inputs
(a table row, a spectrum, 2,048 bytes) drawn as a line or signed bar chart instead of a one-pixel strip."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from auditor.pictures.pixels import DIVERGING_LUT, colorize

TITLE_HEIGHT = 14
BAR_WIDTH = 10
BAR_MARGIN = 52  # room for the bar's numbers
CHART_WIDTH = 480
CHART_HEIGHT = 112
INK = (40, 40, 40)
MAX_TITLE = 60


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _ascii(text: str) -> str:
    """Untrusted text (class names) as printable ASCII, capped: the bitmap font draws nothing else."""
    shown = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return shown if len(shown) <= MAX_TITLE else shown[: MAX_TITLE - 3] + "..."


def titled(rgb: np.ndarray, title: str) -> np.ndarray:
    """The panel with a white strip above it holding `title` (printable ASCII, cut to fit)."""
    width = rgb.shape[1]
    strip = Image.new("RGB", (width, TITLE_HEIGHT), "white")
    draw = ImageDraw.Draw(strip)
    text = _ascii(title)
    while text and draw.textlength(text, font=_font()) > width - 2:
        text = text[:-1]
    draw.text((1, 1), text, fill=INK, font=_font())
    return np.concatenate([np.asarray(strip), rgb], axis=0)


def _number(value: float) -> str:
    return f"{value:+.3g}" if value else "0"


def with_colour_bar(rgb: np.ndarray, limit: float) -> np.ndarray:
    """A signed map (drawn by `colorize` with ±limit) with its colour bar and the values at its ends."""
    height = rgb.shape[0]
    canvas = Image.new("RGB", (rgb.shape[1] + 4 + BAR_WIDTH + BAR_MARGIN, height), "white")
    canvas.paste(Image.fromarray(np.ascontiguousarray(rgb)), (0, 0))
    steps = np.linspace(255, 0, height).astype(np.uint8)  # top: +limit (red), bottom: -limit (blue)
    bar = np.repeat(DIVERGING_LUT[steps][:, None, :], BAR_WIDTH, axis=1)
    left = rgb.shape[1] + 4
    canvas.paste(Image.fromarray(bar), (left, 0))
    draw = ImageDraw.Draw(canvas)
    font = _font()
    draw.text((left + BAR_WIDTH + 3, 0), _number(limit), fill=INK, font=font)
    draw.text((left + BAR_WIDTH + 3, height // 2 - 5), "0", fill=INK, font=font)
    draw.text((left + BAR_WIDTH + 3, height - 11), _number(-limit), fill=INK, font=font)
    return np.asarray(canvas)


def limit_of(values: np.ndarray) -> float:
    """The ± range a signed map is drawn with: its largest |value| (1 for an all-zero map)."""
    finite = np.nan_to_num(np.asarray(values, dtype=np.float64))
    return float(np.abs(finite).max()) or 1.0


def _columns(values: np.ndarray, width: int) -> np.ndarray:
    """Values (n,) resampled to `width` columns: each column the value of largest magnitude in its span."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(-1))
    edges = np.linspace(0, len(values), width + 1).astype(int)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
    edges = np.minimum(edges, len(values))
    starts = np.minimum(edges[:-1], len(values) - 1)
    strongest = np.maximum.reduceat(np.abs(values), starts)
    signs = np.sign(np.add.reduceat(values, starts))
    return strongest * np.where(signs == 0, 1.0, signs)


def line_chart(
    values: np.ndarray, value_range: tuple[float, float], heat: np.ndarray | None = None
) -> np.ndarray:
    """A 1-D input as a line over its index (low at the bottom, high at the top), on the signed `heat`
    coloured column by column when given."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(values)
    width = CHART_WIDTH if n > CHART_WIDTH // 4 else max(CHART_WIDTH // 2, 4 * n)
    canvas = np.full((CHART_HEIGHT, width, 3), 255, np.uint8)
    if heat is not None:
        canvas[:] = colorize(_columns(heat, width)[None, :], limit_of(heat))
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    low, high = value_range
    span = max(high - low, 1e-12)
    xs = np.linspace(0, width - 1, n) if n > 1 else np.array([width / 2])
    ys = (CHART_HEIGHT - 3) - np.clip((values - low) / span, 0, 1) * (CHART_HEIGHT - 6)
    if n > width:  # more values than columns: each column's range as a vertical stroke
        for column in range(width):
            span_values = ys[(xs >= column - 0.5) & (xs < column + 0.5)]
            if span_values.size:
                draw.line([(column, span_values.min()), (column, span_values.max())], fill=INK)
    else:
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=INK, width=1)
    draw.rectangle([0, 0, width - 1, CHART_HEIGHT - 1], outline=(190, 190, 190))
    return np.asarray(image)


def bar_chart(values: np.ndarray) -> np.ndarray:
    """Signed 1-D values (a map, a change) as bars up (red) and down (blue) from a middle line."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(values)
    width = CHART_WIDTH if n > CHART_WIDTH // 4 else max(CHART_WIDTH // 2, 4 * n)
    limit = limit_of(values)
    columns = _columns(values, width)
    colours = colorize(columns[None, :], limit)[0]
    canvas = np.full((CHART_HEIGHT, width, 3), 255, np.uint8)
    middle = CHART_HEIGHT // 2
    reach = np.rint(np.abs(columns) / limit * (middle - 2)).astype(int)
    rows = np.arange(CHART_HEIGHT)[:, None]
    up = (rows < middle) & (rows >= middle - reach[None, :]) & (columns[None, :] > 0)
    down = (rows > middle) & (rows <= middle + reach[None, :]) & (columns[None, :] < 0)
    mask = up | down
    canvas[mask] = np.broadcast_to(colours[None, :, :], canvas.shape)[mask]
    canvas[middle] = (150, 150, 150)
    return with_colour_bar(canvas, limit)
