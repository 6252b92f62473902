"""Still images (PNG, JPEG, ...) decoded through PyAV into RGBA arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MediaError
from .probe import open_container


def read_image(path: Path) -> np.ndarray:
    """The first frame of an image file as uint8 (H, W, 4) straight RGBA."""
    import av
    container = open_container(Path(path))
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: not an image")
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgba")
        raise MediaError(f"{path}: the image holds no frame")
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode image: {exc}") from None
    finally:
        container.close()

