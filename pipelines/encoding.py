"""Writing videos with PyAV: the synthetic benchmark, test fixtures and snippet clips."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 12.0,
    codec: str = "libx264",
    gop: int = 48,
    bframes: int = 2,
    crf: int = 23,
    preset: str = "veryfast",
    pts: Iterable[int] | None = None,
    time_base: Fraction | None = None,
    end_pts: int | None = None,
    rotation: int | None = None,
    faststart: bool = False,
) -> int:
    """Encode RGB frames ``(H, W, 3) uint8`` to a video file; returns the number of frames written.

    Args:
        path: output file; the container follows the extension (mp4, mkv, webm, avi...).
        frames: frames in display order, all of one size (even width and height for yuv420p).
        fps: nominal frame rate.
        codec: FFmpeg encoder name (``libx264``, ``mpeg4``, ``libvpx-vp9``...).
        gop: keyframe interval in frames (a long one makes seeking expensive, as in real footage).
        bframes: B-frames between references (reordered decode order; 0 disables).
        crf: constant rate factor for x264 (quality).
        preset: x264 speed preset.
        pts: optional explicit presentation timestamps in ``time_base`` units, for variable frame
            rate output; defaults to one tick per frame at ``fps``.
        time_base: time base of ``pts``; defaults to ``1/fps``.
        end_pts: with ``pts``, where the last frame ends (in ``time_base``): each packet is given its
            frame's duration (the next timestamp), so a container that stores durations (MP4) keeps
            the last frame's too; default: the muxer's guess.
        rotation: optional display rotation metadata in degrees (90, 180, 270).
        faststart: MP4 index at the front of the file, so a browser can start playing (and seek with
            ranged requests) before it has the whole file.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    container = av.open(str(path), mode="w", options={"movflags": "+faststart"} if faststart else None)
    try:
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.pix_fmt = "yuv420p"
        options: dict[str, str] = {}
        if codec == "libx264":
            options = {
                "crf": str(crf),
                "preset": preset,
                "bf": str(bframes),
                "g": str(gop),
                "keyint_min": str(gop),
                "sc_threshold": "0",
                # one thread and no macroblock tree: the same frames always give the same bytes
                "threads": "1",
                "x264-params": "mbtree=0",
            }
        else:
            stream.codec_context.gop_size = gop
        stream.codec_context.options = options
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(-rotation)  # the MP4 muxer ignores a "rotate" tag
        stamps = list(pts) if pts is not None else None
        pts_iter = iter(stamps) if stamps is not None else None
        durations = ({p: n - p for p, n in zip(stamps, [*stamps[1:], end_pts], strict=True)}
                     if stamps and end_pts is not None else {})

        def mux(packets: list[av.Packet[Any]]) -> None:
            for packet in packets:
                if packet.pts in durations:
                    packet.duration = durations[packet.pts]
                container.mux(packet)

        count = 0
        for image in frames:
            if count == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if pts_iter is not None:
                frame.pts = next(pts_iter)
                frame.time_base = time_base or Fraction(1) / rate
            mux(stream.encode(frame))
            count += 1
        mux(stream.encode())
    finally:
        container.close()
    return count
