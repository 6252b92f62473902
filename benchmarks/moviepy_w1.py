"""W1 in MoviePy 2.x: re-encode a file, audio kept.  Usage: moviepy_w1.py INPUT OUTPUT"""

import sys

from moviepy import VideoFileClip

from harness.moviepy_output import write_mp4


def main(source: str, output: str) -> None:
    with VideoFileClip(source) as clip:
        write_mp4(clip, output)


if __name__ == "__main__":
    main(*sys.argv[1:3])
