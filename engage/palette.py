"""One colour per emotion, wherever engage draws one: the dashboard's charts, the photo page, annotated photos
(`engage classify --annotate`) and the live preview all take their colours from here.

The seven colours are the Okabe & Ito (2008) "Color Universal Design" palette, which stays distinguishable with
the common colour-vision deficiencies. Text on a colour is black or white, whichever contrasts more (WCAG).

The three attention states (head pose: facing, down, away) are drawn in one purple from dark to light, a hue no
emotion uses: told apart by lightness alone, so with any colour-vision deficiency and in greyscale too, and
never mistaken for an emotion.
"""

from __future__ import annotations

from engage.emotions import EMOTIONS
from engage.minutes.metrics import ATTENTION_STATES

EMOTION_HEX: dict[str, str] = {
    "angry": "#D55E00",  # vermillion
    "disgust": "#009E73",  # bluish green
    "fear": "#CC79A7",  # reddish purple
    "happy": "#E69F00",  # orange
    "sad": "#0072B2",  # blue
    "surprise": "#F0E442",  # yellow
    "neutral": "#56B4E9",  # sky blue
}
assert set(EMOTION_HEX) == set(EMOTIONS)
UNKNOWN_HEX = "#999999"  # a label that is not one of the seven

# engage.minutes.metrics.ATTENTION_STATES, darkest first (ColorBrewer "Purples").
ATTENTION_HEX: dict[str, str] = {
    "facing": "#3F007D",  # dark purple
    "down": "#807DBA",  # mid purple
    "away": "#DADAEB",  # pale lavender
}
assert tuple(ATTENTION_HEX) == ATTENTION_STATES


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#56B4E9' -> (86, 180, 233)."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


EMOTION_RGB: dict[str, tuple[int, int, int]] = {e: hex_to_rgb(c) for e, c in EMOTION_HEX.items()}
EMOTION_BGR: dict[str, tuple[int, int, int]] = {e: (b, g, r) for e, (r, g, b) in EMOTION_RGB.items()}
UNKNOWN_BGR: tuple[int, int, int] = hex_to_rgb(UNKNOWN_HEX)[::-1]  # type: ignore[assignment]


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour, 0 (black) to 1 (white)."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ink_rgb(background_rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever has the higher WCAG contrast ratio on `background_rgb`."""
    lum = relative_luminance(background_rgb)
    return (0, 0, 0) if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else (255, 255, 255)


def emotion_hex(label: str) -> str:
    """The colour of an emotion as '#RRGGBB' (grey for a label that is not one of the seven)."""
    return EMOTION_HEX.get(label, UNKNOWN_HEX)


def ink_hex(label: str) -> str:
    """'#000000' or '#FFFFFF': the text colour that reads best on the emotion's colour."""
    return "#{:02X}{:02X}{:02X}".format(*ink_rgb(hex_to_rgb(emotion_hex(label))))
