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
