"""The one way every MoviePy benchmark script writes its result (same settings as the other tools)."""

from __future__ import annotations

from pathlib import Path

AUDIO_BITRATE = "192k"  # what vfx's encode.video writes (it has no option for it)
AUDIO_RATE = 48000  # the inputs' rate; MoviePy would resample to 44.1 kHz otherwise


def write_mp4(clip, path: str) -> None:
    """libx264 veryfast crf 20 yuv420p + AAC, MP4, MoviePy's own threading left at its default."""
    clip.write_videofile(
        path,
        codec="libx264",
        preset="veryfast",
        ffmpeg_params=["-crf", "20", "-pix_fmt", "yuv420p"],
        audio_codec="aac",
        audio_bitrate=AUDIO_BITRATE,
        audio_fps=AUDIO_RATE,
        temp_audiofile_path=str(Path(path).parent),
        logger=None,
    )
