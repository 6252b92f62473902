"""``vfx studio``: a live viewer for a pipeline in the browser (docs/studio.md).

``Studio`` holds the pipeline as it is on disk (the last good graph, the problems of the file as
it is now, the node cache frames are read through); ``vfx.studio.server`` serves it over HTTP to
the page in ``static/``. Nothing here prints: the command (``vfx.cli.studio``) does.
"""

from .session import Studio

__all__ = ["Studio"]
