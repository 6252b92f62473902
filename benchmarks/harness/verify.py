"""Check an output with PyAV: the right number of video frames, and an audio track."""

from __future__ import annotations

from pathlib import Path

import av


def count_frames(stream) -> int:
    """Frames in a video stream: the container's count, or decoded one by one if it has none."""
    if stream.frames:
        return stream.frames
    return sum(1 for _ in stream.container.decode(stream))


def problems(path: Path, expected_frames: int) -> list[str]:
    """What is wrong with the output at ``path`` (an empty list when nothing is)."""
    if not path.exists():
        return ["no output file"]
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return ["no video stream"]
            found = []
            frames = count_frames(container.streams.video[0])
            if frames != expected_frames:
                found.append(f"{frames} video frames, expected {expected_frames}")
            if not container.streams.audio:
                found.append("no audio stream")
            return found
    except av.FFmpegError as exc:
        return [f"unreadable: {exc}"]
