#!/usr/bin/env python3
"""Draws form-like text for test_ocr.c: black DejaVu Sans on white.

usage: ocr_image.py OUT.(png|jpg|tiff|pnm|...) [SIZE_PX] [TEXT]
TEXT may hold literal "\\n" for line breaks; the format follows OUT's suffix.
"""
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEFAULT = "Name: Ada Lovelace\nEmail: ada@example.org\nAge: 36"


def main():
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    text = sys.argv[3].replace("\\n", "\n") if len(sys.argv) > 3 else DEFAULT
    font = ImageFont.truetype(FONT, size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=font, spacing=size // 2)
    margin = size
    img = Image.new("L", (right + 2 * margin, bottom + 2 * margin), 255)
    ImageDraw.Draw(img).multiline_text((margin, margin), text, fill=0, font=font,
                                       spacing=size // 2)
    if out.endswith((".jpg", ".jpeg")):
        img.convert("RGB").save(out, quality=85)
    else:
        img.save(out)


if __name__ == "__main__":
    main()
