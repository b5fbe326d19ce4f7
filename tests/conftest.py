"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from tests.pipelines.videos import write_grid_video, write_rotated_video

# ---- decoding videos (pipelines/decoding tests; helpers in tests/pipelines/videos.py) ----------------
# Every frame of these videos is a distinct colour grid, so a frame returned for the wrong index fails
# an exact comparison. Session-scoped: each is encoded once per test run.

VFR_GAPS_MS = (40, 80, 33, 120, 50, 17)


@pytest.fixture(scope="session")
def long_gop_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 frames, 98×62, B-frames, one keyframe every 250 frames."""
    return write_grid_video(tmp_path_factory.mktemp("videos") / "long_gop.mp4", 300, gop=250, bframes=2)


@pytest.fixture(scope="session")
def vfr_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 frames at variable frame rate (gaps of 17–120 ms), B-frames, GOP 30."""
    gaps = [VFR_GAPS_MS[i % len(VFR_GAPS_MS)] for i in range(119)]
    pts = [sum(gaps[:i]) for i in range(120)]
    return write_grid_video(tmp_path_factory.mktemp("videos") / "vfr.mp4", 120, pts=pts,
                            time_base=Fraction(1, 1000), gop=30)


@pytest.fixture(scope="session")
def wide_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 frames of an unusual aspect ratio (126×46), GOP 30."""
    return write_grid_video(tmp_path_factory.mktemp("videos") / "wide.mkv", 80, size=(46, 126), gop=30)


def _rotated(rotation: int) -> Callable[[pytest.TempPathFactory], Path]:
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
        """40 upright 98×62 frames stored turned, with display-matrix rotation metadata."""
        return write_rotated_video(tmp_path_factory.mktemp("videos") / f"rot{rotation}.mp4", 40, rotation=rotation)

    return fixture


rotated_90_video = pytest.fixture(scope="session", name="rotated_90_video")(_rotated(90))
rotated_180_video = pytest.fixture(scope="session", name="rotated_180_video")(_rotated(180))
rotated_270_video = pytest.fixture(scope="session", name="rotated_270_video")(_rotated(270))


# ---- end of decoding videos ------------------------------------------------------------------------
