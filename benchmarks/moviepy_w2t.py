"""W2T in MoviePy 2.x: W2 with a 72 px title.  Usage: moviepy_w2t.py CLIP_A CLIP_B LOGO FONT OUTPUT

W2 (6 s of clip A; clip B scaled to 960x540 at (100,100), 70% opacity; the RGBA logo at
(1480,40)) plus a 72 px white title centred at 85% of the height, then a 1 s fade in from black.
Written as a MoviePy user who knows it would: the bottom clip fills the frame, so the composite
draws on it (``use_bgclip=True``) instead of on a blank canvas. Audio: clip A's only (set on the
composite: with ``use_bgclip`` MoviePy leaves the bottom clip's audio out).
"""

import sys

from moviepy import CompositeVideoClip, ImageClip, TextClip, VideoFileClip
from moviepy import vfx as effects

from harness.moviepy_output import write_mp4

SECONDS = 6
TITLE = "Summer Sale"


def main(clip_a: str, clip_b: str, logo_path: str, font: str, output: str) -> None:
    a = VideoFileClip(clip_a).subclipped(0, SECONDS)
    b = (
        VideoFileClip(clip_b, audio=False)
        .subclipped(0, SECONDS)
        .resized((960, 540))
        .with_opacity(0.7)
        .with_position((100, 100))
    )
    logo = ImageClip(logo_path).with_duration(SECONDS).with_position((1480, 40))
    title = TextClip(font=font, text=TITLE, font_size=72, color="white").with_duration(SECONDS)
    title = title.with_position(("center", round(a.h * 0.85 - title.h / 2)))
    comp = CompositeVideoClip([a, b, logo, title], size=a.size, use_bgclip=True)
    comp = comp.with_audio(a.audio).with_effects([effects.FadeIn(1)])  # use_bgclip drops the bottom's audio
    write_mp4(comp, output)
    for clip in (a, b):
        clip.close()


if __name__ == "__main__":
    main(*sys.argv[1:6])
