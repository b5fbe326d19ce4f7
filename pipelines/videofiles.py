"""What vidgate takes for a video file when it looks through folders (batch sources, data set importers).

Standard library only: the batch runner's source expansion imports it without the decoding stack.
"""

from __future__ import annotations

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                              ".3gp"})
