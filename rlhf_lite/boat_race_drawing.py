"""Pictures of the boat race (notebook 02): the track, the buoys, the boat and its wake, a line of text under it.

Apart from :mod:`rlhf_lite.boat_race` because drawing is not the race: the env calls :func:`draw_race` from
``render()`` and :meth:`BoatRace.draw`, and nothing here changes what the boat can do or what it is paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["draw_race"]


def draw_race(
    track: Sequence[str],
    targets: Sequence[tuple[int, int]],
    boat: tuple[int, int] | None = None,
    up_mask: int | None = None,
    *,
    heading: int = 1,
    trail: Sequence[tuple[int, int]] = (),
    hud: str | None = None,
    cell: int = 32,
) -> np.ndarray:
    """An RGB picture ``[H, W, 3]`` uint8 of ``track`` (rows of ``#.STFR``, see :mod:`rlhf_lite.boat_race`): land
    green, water blue, the buoys at ``targets`` red (a ripple once knocked down: bit ``j`` of ``up_mask`` says
    whether buoy ``j`` stands; ``None``, all stand), rocks grey, the finish line checkered, the boat white pointing
    along ``heading`` (an action), its recent ``trail`` as a wake; ``hud`` is a line of text in a bar under the
    track. ``cell`` pixels per track cell."""
    mask = (1 << len(targets)) - 1 if up_mask is None else int(up_mask)
    height, width = len(track), len(track[0])
    img = np.zeros((height * cell, width * cell, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:cell, 0:cell]
    c0 = (cell - 1) / 2
    r2 = (yy - c0) ** 2 + (xx - c0) ** 2
    for r in range(height):
        for c in range(width):
            block = img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
            ch = track[r][c]
            if ch == "#":
                block[:] = (96, 150, 86)
                if (r * r * 5 + c * 3 + r * c) % 7 == 0:  # a few trees, always in the same places
                    block[(yy - c0 + 3) ** 2 + (xx - c0 - 2) ** 2 <= (0.3 * cell) ** 2] = (66, 118, 62)
                continue
            block[:] = (62, 122, 190)
            block[((yy + 3 * xx // 4) % 12 == 0)] = (80, 140, 205)  # a little texture: ripples
            if ch == "F":
                check = ((yy // (cell // 4)) + (xx // (cell // 4))) % 2 == 0
                block[check] = (245, 245, 245)
                block[~check] = (30, 30, 30)
            elif ch == "S":
                block[:, -3:] = (245, 245, 245)
            elif ch == "R":
                for dy, dx, rad in ((-4, -5, 0.26), (5, 4, 0.22), (6, -7, 0.14)):
                    block[(yy - c0 - dy) ** 2 + (xx - c0 - dx) ** 2 <= (rad * cell) ** 2] = (118, 112, 106)
    for k, (r, c) in enumerate(trail):  # the wake: older positions fainter and smaller
        rad = 0.05 + 0.09 * (k + 1) / max(len(trail), 1)
        block = img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
        block[r2 <= (rad * cell) ** 2] = (200, 225, 245)
    for j, (r, c) in enumerate(targets):  # standing buoys red and white; fallen ones a faint red ring
        block = img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
        if mask >> j & 1:
            block[r2 <= (0.32 * cell) ** 2] = (220, 40, 40)
            block[r2 <= (0.2 * cell) ** 2] = (250, 250, 250)
            block[r2 <= (0.1 * cell) ** 2] = (220, 40, 40)
        else:
            block[((0.24 * cell) ** 2 <= r2) & (r2 <= (0.32 * cell) ** 2)] = (175, 110, 150)
    if boat is not None:
        r, c = boat
        block = img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
        hull, cabin = _boat_sprite(cell, heading)
        sank = track[r][c] == "R"
        block[hull] = (70, 70, 70) if sank else (250, 250, 250)
        block[cabin] = (40, 40, 40) if sank else (240, 140, 30)
    if hud is not None:
        img = np.concatenate([img, _text_bar(hud, img.shape[1], max(16, cell * 7 // 8))], axis=0)
    return img


def _boat_sprite(cell: int, heading: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``[cell, cell]`` of a boat's hull and cabin pointing along action ``heading``."""
    yy, xx = np.mgrid[0:cell, 0:cell] / cell
    half_width = np.where(xx < 0.6, 0.2, 0.2 * (0.9 - xx) / 0.3)
    hull = (xx >= 0.12) & (xx <= 0.9) & (np.abs(yy - 0.5) <= half_width)
    cabin = (xx >= 0.3) & (xx <= 0.52) & (np.abs(yy - 0.5) <= 0.1)
    turns = {1: 0, 0: 1, 3: 2, 2: 3}[int(heading)]  # counter-clockwise quarter turns from facing right
    return np.rot90(hull, turns), np.rot90(cabin, turns)


_FONT_CACHE: dict[int, Any] = {}


def _text_bar(text: str, width: int, height: int) -> np.ndarray:
    """A dark bar ``[height, width, 3]`` uint8 with ``text`` in white (pillow's built-in font)."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(8, height * 2 // 3)
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except (TypeError, OSError):  # an old pillow or one without FreeType: the small bitmap font
            _FONT_CACHE[size] = ImageFont.load_default()
    bar = Image.new("RGB", (width, height), (25, 35, 50))
    ImageDraw.Draw(bar).text((6, (height - size) // 2 - 1), text, fill=(240, 240, 240), font=_FONT_CACHE[size])
    return np.asarray(bar)
