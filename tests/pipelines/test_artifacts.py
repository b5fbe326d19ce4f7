import io
from pathlib import Path

import pytest
from PIL import Image

from pipelines.artifacts import clip, thumbnail
from pipelines.decoding import open_decoder, probe

from ..helpers import write_test_video


def test_thumbnail_and_clip_of_a_snippet(tmp_path: Path) -> None:
    video = write_test_video(tmp_path / "v.mp4", frames=48, size=(64, 96))
    image = Image.open(io.BytesIO(thumbnail(video, 20, 48)))
    assert image.format == "JPEG" and max(image.size) == 48 and image.size[0] > image.size[1]
    out = clip(video, 8, 16, tmp_path / "c.mp4")
    info = probe(out)
    assert info.num_frames == 8 and (info.width, info.height) == (96, 64)
    with open_decoder(out) as d, open_decoder(video) as src:
        got, want = d.frames([0, 7]).astype(int), src.frames([8, 15]).astype(int)
    assert abs(got - want).mean() < 12  # the same frames, re-encoded
    with pytest.raises(ValueError):
        clip(video, 60, 70, tmp_path / "none.mp4")


def test_context_clip_widens_the_snippet_within_the_video_and_streams(tmp_path: Path) -> None:
    video = write_test_video(tmp_path / "v.mp4", frames=120, fps=12, size=(64, 96))
    out = clip(video, 56, 64, tmp_path / "context.mp4", pad_s=2.0)  # 2 s = 24 frames each side
    assert probe(out).num_frames == 8 + 2 * 24
    with open_decoder(out) as d, open_decoder(video) as src:
        got, want = d.frames([0, 55]).astype(int), src.frames([32, 87]).astype(int)
    assert abs(got - want).mean() < 12
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # index first: a browser plays while it downloads
    start = clip(video, 0, 8, tmp_path / "start.mp4", pad_s=2.0)  # clamped at the video's start
    assert probe(start).num_frames == 8 + 24
