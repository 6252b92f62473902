"""Draws the images the example pipelines use (no media is committed): out/assets/logo.png.

Run by `make demo` and by the tests; safe to run again.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


def draw_logo(path: Path, width: int = 400, height: int = 200) -> Path:
    """A translucent rounded badge with a soft edge and the word 'vfx', with real alpha."""
    scale = 4
    img = Image.new("RGBA", (width * scale, height * scale), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([8 * scale, 8 * scale, (width - 8) * scale, (height - 8) * scale], radius=40 * scale,
                        fill=(255, 140, 20, 210), outline=(255, 255, 255, 255), width=6 * scale)
    try:
        font = ImageFont.load_default(size=110 * scale)
    except TypeError:
        font = ImageFont.load_default()
    box = d.textbbox((0, 0), "vfx", font=font)
    x = (width * scale - (box[2] - box[0])) / 2 - box[0]
    y = (height * scale - (box[3] - box[1])) / 2 - box[1]
    d.text((x, y), "vfx", font=font, fill=(255, 255, 255, 255))
    img = img.resize((width, height), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def main(out_dir: str = "out/assets") -> None:
    print(f"wrote {draw_logo(Path(out_dir) / 'logo.png')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
