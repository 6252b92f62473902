"""W3G in MoviePy 2.x: W3 with a brightness/contrast change (``LumContrast``), audio kept.

Usage: moviepy_w3g.py INPUT OUTPUT
"""

import sys

from moviepy import VideoFileClip
from moviepy import vfx as effects

from harness.moviepy_output import write_mp4

#: brighter by 12 codes, contrast 1.2 around the middle code (ffmpeg's eq=brightness=0.05:contrast=1.2)
LUM, CONTRAST = 12, 0.2


def main(source: str, output: str) -> None:
    with VideoFileClip(source) as clip:
        write_mp4(clip.with_effects([effects.LumContrast(lum=LUM, contrast=CONTRAST, contrast_threshold=127)]), output)


if __name__ == "__main__":
    main(*sys.argv[1:3])
