"""True times: snippet times, thumbnails and clips follow the frames' own timestamps on awkward timings.

The videos (`timed_videos`) have variable frame rate, a start at 10 s (MPEG-TS) or an edit list that
cuts frames (MP4), and every frame says its number; what each frame's time is comes from how the file
was written, not from the probe.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from pipelines.artifacts import clip, clip_range, thumbnail
from pipelines.decoding import FrameTable, PyAVDecoder, VideoInfo, frame_times, probe
from pipelines.options import Options
from pipelines.planning import plan_snippets, snippet_times
from pipelines.recognizer import Recognizer

from .timed_videos import TIMINGS, TimedVideo, code_frame, edit_list, read_code, write_timed_video

DEMO = Path(__file__).resolve().parents[2] / "models" / "weights" / "vidgate-demo.safetensors"
THUMBNAIL_SIZE = 160  # what the service renders (service.artifacts.THUMBNAIL_SIZE)
CONTEXT_S = 2.0
ROUNDING = 1e-4  # results carry times to 4 decimals


def _info(pts: list[int], time_base: Fraction, frame_ticks: int, *, table: bool = True) -> VideoInfo:
    stamps = np.asarray(pts, dtype=np.int64)
    duration = float((stamps[-1] - stamps[0] + frame_ticks) * time_base)
    frames = FrameTable(pts=stamps, keyframes=np.zeros(1, dtype=np.int64), time_base=time_base,
                        frame_ticks=frame_ticks)
    return VideoInfo(path=Path("v.mp4"), num_frames=len(pts), fps=len(pts) / duration, duration=duration, width=64,
                     height=48, codec="h264", rotation=0, keyframes=(0,), table=frames if table else None)


def test_frame_times_come_from_timestamps_relative_to_the_first_frame() -> None:
    info = _info([900, 1000, 1300, 1350], Fraction(1, 100), 50)  # starts at 9 s; gaps of 1, 3 and 0.5 s
    assert frame_times(info, [0, 1, 2, 3, 4]).tolist() == [0.0, 1.0, 4.0, 4.5, 5.0]
    assert frame_times(info, [4])[0] == info.duration  # the end of the last frame
    plan = plan_snippets(4, info.fps, snippet_frames=2)
    assert snippet_times(plan, info) == [(0.0, 4.0), (4.0, 5.0)]
    without = _info([900, 1000, 1300, 1350], Fraction(1, 100), 50, table=False)
    assert frame_times(without, [0, 2, 4]).tolist() == pytest.approx([0.0, 2 / info.fps, 4 / info.fps])
    with pytest.raises(IndexError):
        frame_times(info, [5])


def test_context_range_pads_by_seconds_of_the_frames_own_times() -> None:
    info = _info([0, 10, 20, 30, 70, 110, 150, 160, 170], Fraction(1, 100), 10)  # 0.1 s gaps, then 0.4 s
    assert clip_range(info, 3, 5, 0.0) == (3, 5)
    assert clip_range(info, 3, 5, 0.1) == (2, 6)  # frame 2 shows at 0.2 s = start - 0.1; frame 5 starts at 1.1 s
    assert clip_range(info, 3, 5, 0.15) == (1, 6)
    assert clip_range(info, 3, 5, 0.5) == (0, 7)  # 1.1 + 0.5 = 1.6: frame 7 starts at 1.6, not before
    assert clip_range(info, 0, 9, 10.0) == (0, 9)  # cut at the video's ends
    with pytest.raises(ValueError):
        clip_range(info, 9, 12, 1.0)


def test_frames_say_their_number_through_scaling_and_cropping() -> None:
    for index in (0, 1, 77, 4095):
        frame = code_frame(index, 96, 128)
        assert read_code(frame) == index
        small = np.asarray(Image.fromarray(frame).resize((40, 30), Image.Resampling.BILINEAR))
        assert read_code(small) == index
        assert read_code(frame[:, 16:112]) == index  # the centre crop the light network sees
    with pytest.raises(ValueError):
        read_code(np.full((96, 128, 3), 128, dtype=np.uint8))


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(DEMO, isolate=False)


@pytest.fixture(scope="module", params=TIMINGS)
def timed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TimedVideo:
    return write_timed_video(tmp_path_factory.mktemp("timed"), request.param)


def _codes(path: Path) -> tuple[list[int], list[float]]:
    """The number each frame of a clip shows, and each frame's time in the clip (from its first frame)."""
    with av.open(str(path)) as container:
        frames = [(read_code(f.to_ndarray(format="rgb24")), float(f.time)) for f in container.decode(video=0)]
    return [c for c, _ in frames], [t - frames[0][1] for _, t in frames]


def _inside(video: TimedVideo, code: int, start: float, end: float) -> bool:
    return start - ROUNDING <= video.times[code] < end + ROUNDING


def test_the_file_is_what_it_claims(timed: TimedVideo) -> None:
    info = probe(timed.path)
    assert info.num_frames == len(timed.shown)
    assert info.table is not None
    relative = (info.table.pts - info.table.pts[0]) * float(info.table.time_base)
    assert np.allclose(relative, [timed.time_of_index(i) for i in range(info.num_frames)], atol=1e-6)
    assert abs(info.duration - timed.end) < 1 / 30  # an MPEG-TS keeps no duration of its last frame
    if timed.timing == "offset":
        assert float(info.table.pts[0] * info.table.time_base) >= 10.0
    if timed.timing == "edit_list":  # the edit list starts the presentation after the first frames
        assert any(media_time > 0 for _, media_time in edit_list(timed.path))
        assert timed.shown[0] > 0
    gaps = np.diff(relative)
    assert gaps.max() > 2 * gaps.min()  # variable frame rate: index / fps would be wrong


def test_keyframes_asked_alone_are_the_frames_they_are_in_any_container(timed: TimedVideo) -> None:
    """A request made only of keyframes (the aligned light pass, `keyframe_near`) seeks to each one: on an MPEG-TS
    starting at 10 s and through an MP4's edit list too, each comes back as the frame it is, in any order."""
    info = probe(timed.path)
    keys = list(info.keyframes or ())
    assert len(keys) >= 3
    asked = keys[::-1] + keys[:2]  # descending, then repeats
    with PyAVDecoder(timed.path, info) as decoder:
        frames = decoder.frames(asked)
        # the keyframes and nothing between them (but the frames an edit list hides: they have no index to go by)
        assert len(keys) <= decoder.decoded_frames <= len(keys) + timed.shown[0]
        near, actual = decoder.keyframe_near([k + 1 for k in keys[:-1]])
    assert [read_code(frame) for frame in frames] == [timed.shown[k] for k in asked]
    assert actual == keys[:-1] and [read_code(frame) for frame in near] == [timed.shown[k] for k in keys[:-1]]


def test_a_snippet_after_a_seek_decodes_its_own_gop_only_in_any_container(timed: TimedVideo) -> None:
    """Demuxers land near a keyframe, not on it: an MP4 with an edit list a GOP early, an MPEG-TS just past it
    (where nothing decodes until the next keyframe). Either way the decoder hands the codec what an exact seek
    would: a snippet's 4 frames after a keyframe cost at most a few frames more (B-frame look-ahead; on MPEG-TS
    the keyframe it landed past), not a GOP (30 frames) more, and are the frames they are."""
    info = probe(timed.path)
    for key in list(info.keyframes or ())[2:4]:
        with PyAVDecoder(timed.path, info, threads=1) as decoder:  # frame threads would take in look-ahead frames
            frames = decoder.frames(range(key, key + 4))
            assert decoder.decoded_frames <= 4 + 6, (key, decoder.decoded_frames)
        assert [read_code(frame) for frame in frames] == list(timed.shown[key : key + 4])


def test_snippets_thumbnails_and_clips_lie_in_their_reported_times(
    recognizer: Recognizer, timed: TimedVideo, tmp_path: Path
) -> None:
    light: dict[int, np.ndarray] = {}
    result: dict[str, Any] = recognizer.recognize(timed.path, Options(), centre_frames=light.update).to_dict()
    snippets, n = result["snippets"], result["num_frames"]
    assert n == len(timed.shown) and abs(result["duration"] - timed.end) < 1 / 30
    assert len(light) == len(snippets) > 8
    for s in snippets:
        (first, last), start, end = s["frames"], s["start"], s["end"]
        # start: the first frame's time; end: the next frame's (the video's end after the last frame)
        assert start == pytest.approx(timed.time_of_index(first), abs=ROUNDING)
        assert end == pytest.approx(timed.time_of_index(last) if last < n else result["duration"], abs=ROUNDING)
        # the thumbnail the job stores (what the light network saw) and the one the API renders
        assert _inside(timed, read_code(light[s["index"]]), start, end), s
        jpeg = Image.open(io.BytesIO(thumbnail(timed.path, first + (last - first) // 2, THUMBNAIL_SIZE)))
        assert _inside(timed, read_code(np.asarray(jpeg.convert("RGB"))), start, end), s
        # the clip: exactly the snippet's frames, at their own times
        codes, times = _codes(clip(timed.path, first, last, tmp_path / "clip.mp4"))
        assert codes == list(timed.shown[first:last]), s
        assert all(_inside(timed, c, start, end) for c in codes)
        assert np.allclose(times, [timed.times[c] - timed.times[codes[0]] for c in codes], atol=1e-4)
    for s in snippets[:: max(1, len(snippets) // 4)]:  # context clips: padded by seconds, not frames
        (first, last), start, end = s["frames"], s["start"], s["end"]
        codes, _ = _codes(clip(timed.path, first, last, tmp_path / "context.mp4", pad_s=CONTEXT_S))
        i, j = timed.shown.index(codes[0]), timed.shown.index(codes[-1]) + 1  # frames [i, j) of the video
        assert codes == list(timed.shown[i:j]) and i <= first and last <= j
        begin, finish = start - CONTEXT_S, end + CONTEXT_S
        # from the frame on screen when the window begins to the last frame starting before it ends
        assert timed.time_of_index(i) <= max(0.0, begin) + ROUNDING and timed.time_of_index(i + 1) > begin - ROUNDING
        assert timed.time_of_index(j - 1) < finish and (j == n or timed.time_of_index(j) >= finish - ROUNDING)


def test_stored_thumbnails_lie_in_their_snippet_with_the_keyframe_light_pass(
    recognizer: Recognizer, tmp_path: Path
) -> None:
    timed = write_timed_video(tmp_path, "vfr")
    frames: dict[int, np.ndarray] = {}
    result = recognizer.recognize(timed.path, Options(light_pass="keyframe", max_selected=4),
                                  centre_frames=frames.update).to_dict()
    # the light network saw keyframes, often before the snippet: the selected snippets' centre frames come instead
    assert sorted(frames) == [s["index"] for s in result["snippets"] if s["selected"]]
    for index, frame in frames.items():
        s = result["snippets"][index]
        assert _inside(timed, read_code(frame), s["start"], s["end"]), s
