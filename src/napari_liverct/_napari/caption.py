"""A caption band above a PNG (the snapshots' plane, position and lesion), written as a unit."""

from __future__ import annotations

import numpy as np

__all__ = ["caption_image"]


def caption_image(path, lines: list[str], font_size: int = 15, pixels=None) -> None:
    """Redraw the PNG at ``path`` with ``lines`` in a dark band above it, wrapped to its width.

    With ``pixels`` (an RGB(A) array, e.g. ``viewer.screenshot()``), that picture is
    captioned instead and ``path`` written once, as a unit (never an uncaptioned frame).
    """
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    from ..outputs.units import atomic_write

    img = (Image.open(path) if pixels is None else Image.fromarray(np.asarray(pixels))).convert("RGBA")
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(img)
    margin = 8
    avg = max(1.0, draw.textlength("abcdefghijklmnopqrstuvwxyz0123456789 ", font=font) / 37.0)
    width_chars = max(10, int((img.width - 2 * margin) / avg))
    wrapped = [part for line in lines for part in (textwrap.wrap(line, width_chars) or [""])]
    # shrink the odd line that is still too wide (long words)
    while any(draw.textlength(t, font=font) > img.width - 2 * margin for t in wrapped) and width_chars > 10:
        width_chars -= 2
        wrapped = [part for line in lines for part in (textwrap.wrap(line, width_chars) or [""])]
    line_h = font_size + 5
    band = margin * 2 + line_h * len(wrapped)
    out = Image.new("RGBA", (img.width, img.height + band), (20, 20, 24, 255))
    out.paste(img, (0, band))
    draw = ImageDraw.Draw(out)
    for n, text in enumerate(wrapped):
        draw.text((margin, margin + n * line_h), text, fill=(255, 230, 0, 255), font=font)
    atomic_write(path, lambda tmp: out.save(tmp, format="PNG"))
