"""W3 in MoviePy 2.x: plain re-encode of a 720p30 file, audio kept (the W1 script on other input).

Usage: moviepy_w3.py INPUT OUTPUT
"""

import sys

from moviepy_w1 import main

if __name__ == "__main__":
    main(*sys.argv[1:3])
