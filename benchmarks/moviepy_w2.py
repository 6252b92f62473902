"""W2 in MoviePy 2.x: the composite.  Usage: moviepy_w2.py CLIP_A CLIP_B LOGO OUTPUT

6 s of clip A; clip B scaled to 960x540 at (100,100), 70% opacity; the RGBA logo at (1480,40);
a 1 s fade in from black. Audio: clip A's only (B is opened without audio so it is not mixed in).
"""

import sys

from moviepy import CompositeVideoClip, ImageClip, VideoFileClip
from moviepy import vfx as effects

from harness.moviepy_output import write_mp4

SECONDS = 6


def main(clip_a: str, clip_b: str, logo_path: str, output: str) -> None:
    a = VideoFileClip(clip_a).subclipped(0, SECONDS)
    b = (
        VideoFileClip(clip_b, audio=False)
        .subclipped(0, SECONDS)
        .resized((960, 540))
        .with_opacity(0.7)
        .with_position((100, 100))
    )
    logo = ImageClip(logo_path).with_duration(SECONDS).with_position((1480, 40))
    comp = CompositeVideoClip([a, b, logo], size=(1920, 1080)).with_effects([effects.FadeIn(1)])
    write_mp4(comp, output)
    for clip in (a, b):
        clip.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
