#!/usr/bin/env python3
"""Writes a PNG of a line of text, for trying the ocr-c function without an image editor.

    python3 examples/ocr-c/text_png.py 'HELLO FROST' > /tmp/hello.png

Standard library only: the text is drawn in a 5x7 block font (A-Z, 0-9, space and a little
punctuation; lower case is drawn as upper case), each dot SCALE pixels square, black on
white, then blurred and encoded as an 8-bit grayscale PNG with zlib. Tesseract's models are
trained on real type, not pixel art: the blur rounds the dots' staircases into strokes, and
takes its reading of letters like N, V and X from unreliable to right. The end-to-end tests
render their images with it too (no ImageMagick, no fonts needed).
"""
import struct
import sys
import zlib

# Rows of each glyph, top to bottom; "X" is ink.
FONT = {
    "A": [".XXX.", "X...X", "X...X", "XXXXX", "X...X", "X...X", "X...X"],
    "B": ["XXXX.", "X...X", "X...X", "XXXX.", "X...X", "X...X", "XXXX."],
    "C": [".XXX.", "X...X", "X....", "X....", "X....", "X...X", ".XXX."],
    "D": ["XXXX.", "X...X", "X...X", "X...X", "X...X", "X...X", "XXXX."],
    "E": ["XXXXX", "X....", "X....", "XXXX.", "X....", "X....", "XXXXX"],
    "F": ["XXXXX", "X....", "X....", "XXXX.", "X....", "X....", "X...."],
    "G": [".XXX.", "X...X", "X....", "X.XXX", "X...X", "X...X", ".XXXX"],
    "H": ["X...X", "X...X", "X...X", "XXXXX", "X...X", "X...X", "X...X"],
    "I": [".XXX.", "..X..", "..X..", "..X..", "..X..", "..X..", ".XXX."],
    "J": ["..XXX", "...X.", "...X.", "...X.", "...X.", "X..X.", ".XX.."],
    "K": ["X...X", "X..X.", "X.X..", "XX...", "X.X..", "X..X.", "X...X"],
    "L": ["X....", "X....", "X....", "X....", "X....", "X....", "XXXXX"],
    "M": ["X...X", "XX.XX", "X.X.X", "X.X.X", "X...X", "X...X", "X...X"],
    "N": ["X...X", "X...X", "XX..X", "X.X.X", "X..XX", "X...X", "X...X"],
    "O": [".XXX.", "X...X", "X...X", "X...X", "X...X", "X...X", ".XXX."],
    "P": ["XXXX.", "X...X", "X...X", "XXXX.", "X....", "X....", "X...."],
    "Q": [".XXX.", "X...X", "X...X", "X...X", "X.X.X", "X..X.", ".XX.X"],
    "R": ["XXXX.", "X...X", "X...X", "XXXX.", "X.X..", "X..X.", "X...X"],
    "S": [".XXXX", "X....", "X....", ".XXX.", "....X", "....X", "XXXX."],
    "T": ["XXXXX", "..X..", "..X..", "..X..", "..X..", "..X..", "..X.."],
    "U": ["X...X", "X...X", "X...X", "X...X", "X...X", "X...X", ".XXX."],
    "V": ["X...X", "X...X", "X...X", "X...X", "X...X", ".X.X.", "..X.."],
    "W": ["X...X", "X...X", "X...X", "X.X.X", "X.X.X", "X.X.X", ".X.X."],
    "X": ["X...X", "X...X", ".X.X.", "..X..", ".X.X.", "X...X", "X...X"],
    "Y": ["X...X", "X...X", ".X.X.", "..X..", "..X..", "..X..", "..X.."],
    "Z": ["XXXXX", "....X", "...X.", "..X..", ".X...", "X....", "XXXXX"],
    "0": [".XXX.", "X...X", "X...X", "X...X", "X...X", "X...X", ".XXX."],  # no slash: read as 8
    "1": ["..X..", ".XX..", "..X..", "..X..", "..X..", "..X..", ".XXX."],
    "2": [".XXX.", "X...X", "....X", "...X.", "..X..", ".X...", "XXXXX"],
    "3": ["XXXXX", "...X.", "..X..", "...X.", "....X", "X...X", ".XXX."],
    "4": ["...X.", "..XX.", ".X.X.", "X..X.", "XXXXX", "...X.", "...X."],
    "5": ["XXXXX", "X....", "XXXX.", "....X", "....X", "X...X", ".XXX."],
    "6": ["..XX.", ".X...", "X....", "XXXX.", "X...X", "X...X", ".XXX."],
    "7": ["XXXXX", "....X", "...X.", "..X..", ".X...", ".X...", ".X..."],
    "8": [".XXX.", "X...X", "X...X", ".XXX.", "X...X", "X...X", ".XXX."],
    "9": [".XXX.", "X...X", "X...X", ".XXXX", "....X", "...X.", ".XX.."],
    " ": ["....."] * 7,
    ".": [".....", ".....", ".....", ".....", ".....", ".XX..", ".XX.."],
    ",": [".....", ".....", ".....", ".....", ".XX..", "..X..", ".X..."],
    "!": ["..X..", "..X..", "..X..", "..X..", "..X..", ".....", "..X.."],
    "?": [".XXX.", "X...X", "....X", "...X.", "..X..", ".....", "..X.."],
    "-": [".....", ".....", ".....", "XXXXX", ".....", ".....", "....."],
}


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _blur(rows, w, h, r):
    """Two passes of a (2r+1)-wide box blur, across then down (about a Gaussian)."""

    def across(rows, n):
        out = []
        for row in rows:
            s = row[0] * (r + 1) + sum(row[1:r + 1])  # the window, with the edge repeated
            acc = []
            for x in range(n):
                acc.append(s // (2 * r + 1))
                s += row[min(n - 1, x + r + 1)] - row[max(0, x - r)]
            out.append(acc)
        return out

    for _ in range(2):
        rows = across(rows, w)
        rows = [list(col) for col in zip(*across([list(c) for c in zip(*rows)], h))]
    return rows


def render_png(text, scale=6):
    """The PNG bytes of text (one line); ValueError for a character the font lacks."""
    text = text.upper()
    missing = sorted(set(text) - set(FONT))
    if missing:
        raise ValueError("no glyph for %s" % ", ".join(repr(c) for c in missing))
    margin = 4 * scale
    w = max(1, len(text) * 6 - 1) * scale + 2 * margin  # 5 dots a glyph, 1 between
    h = 7 * scale + 2 * margin
    rows = [[255] * w for _ in range(h)]
    for i, ch in enumerate(text):
        for y, line in enumerate(FONT[ch]):
            for x, dot in enumerate(line):
                if dot == "X":
                    x0 = margin + (i * 6 + x) * scale
                    for yy in range(scale):
                        rows[margin + y * scale + yy][x0:x0 + scale] = [0] * scale
    rows = _blur(rows, w, h, max(1, scale // 2))
    raw = b"".join(b"\x00" + bytes(r) for r in rows)  # each row: filter type 0, then pixels
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))  # 8-bit gray
            + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def main(argv):
    if len(argv) not in (2, 3) or sys.stdout.isatty():
        sys.exit("usage: text_png.py TEXT [SCALE] > out.png")
    try:
        png = render_png(argv[1], int(argv[2]) if len(argv) == 3 else 6)
    except ValueError as e:
        sys.exit("text_png.py: %s" % e)
    sys.stdout.buffer.write(png)


if __name__ == "__main__":
    main(sys.argv)
