"""Decoding: probe refuses every kind of bad input, every backend returns exactly the frames asked for."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipelines.decoding import BACKENDS, IsolatedDecoder, PyAVDecoder, VideoInfo, centre_crop, open_decoder, probe
from pipelines.errors import DecodeError, LimitError, OptionsError, VideoError
from pipelines.planning import plan_snippets
from tests.conftest import VFR_GAPS_MS
from tests.pipelines.videos import grid_frame, resized_reference, sequential_frames, write_grid_video

# Codec threads where a test counts the frames handed to the codec: frame threading takes in up to
# threads - 1 packets of look-ahead, and FFmpeg's default is a thread per core, plus one. The bounds below
# were set with the default on 2 cores (3 threads); on 16 cores the default fed 46 frames for 41 + 4.
COUNTED_THREADS = 3

DECODING_BACKENDS = [name for name in ("pyav", "decord", "torchcodec") if name in BACKENDS]
FAULTS = "tests.pipelines.fault_backends"


def upright_reference(path: Path) -> np.ndarray:
    """Every frame by a plain sequential decode, turned upright by the probed rotation ``(N, H, W, 3)``."""
    frames = sequential_frames(path)
    rotation = probe(path).rotation
    return np.rot90(frames, k=-(rotation // 90), axes=(1, 2)) if rotation else frames


def access_pattern(num_frames: int) -> list[list[int]]:
    """The recognizer's requests: centre frames ascending, then selected snippets, then odd ones."""
    plan = plan_snippets(num_frames, 12.0, num_snippets=min(32, num_frames // 8))
    centres = [s.centre_frame for s in plan]
    chosen = [plan[i] for i in (len(plan) - 1, 1, len(plan) // 2)]  # out of order on purpose
    snippets = [f for s in chosen for f in s.frame_indices()]
    return [centres, snippets, [num_frames - 1, 0, 0, num_frames // 2, num_frames - 1]]


# ---- probe ----------------------------------------------------------------------------------------


def test_probe_counts_frames_exactly_with_bframes(long_gop_video: Path) -> None:
    info = probe(long_gop_video)
    assert info == VideoInfo(path=long_gop_video, num_frames=300, fps=info.fps, duration=info.duration,
                             width=98, height=62, codec="h264", rotation=0, keyframes=(0, 250))
    assert info.fps == pytest.approx(12.0) and info.duration == pytest.approx(25.0)
    assert info.num_frames == len(sequential_frames(long_gop_video))


def test_probe_variable_frame_rate(vfr_video: Path) -> None:
    info = probe(vfr_video)
    gaps = [VFR_GAPS_MS[i % len(VFR_GAPS_MS)] for i in range(119)]
    assert info.num_frames == 120 == len(sequential_frames(vfr_video))
    # last frame lasts its packet duration (or the median gap): the span is known to within one gap
    assert sum(gaps) / 1000 < info.duration <= (sum(gaps) + max(gaps)) / 1000
    assert info.fps == pytest.approx(120 / info.duration)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_probe_reports_upright_size_and_rotation(rotation: int, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(f"rotated_{rotation}_video")
    info = probe(path)
    assert info.rotation == rotation
    assert (info.height, info.width) == (62, 98)  # the upright picture, whatever the coded one
    assert sequential_frames(path).shape[1:3] == ((98, 62) if rotation != 180 else (62, 98))


def test_probe_decides_by_content_not_extension(long_gop_video: Path, tmp_path: Path) -> None:
    disguised = tmp_path / "notes.txt"
    shutil.copy(long_gop_video, disguised)
    assert probe(disguised).num_frames == 300


def _audio_only(path: Path) -> Path:
    container = av.open(str(path), mode="w")
    stream = container.add_stream("aac", rate=16000)
    for k in range(20):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, k * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def _halved(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _png(path: Path) -> Path:
    Image.fromarray(grid_frame(0, 64, 64)).save(path, "PNG")
    return path


def _renamed_codec(source: Path, path: Path) -> Path:
    """An H.264 MP4 whose codec tag is rewritten to one no decoder knows."""
    path.write_bytes(source.read_bytes().replace(b"avc1", b"zzzz"))
    return path


def _faststart_halved(path: Path) -> Path:
    """An MP4 with its index first (faststart), cut in half: it opens, but half its frames are gone."""
    full = path.with_name("faststart_full.mp4")
    container = av.open(str(full), mode="w", options={"movflags": "faststart"})
    stream = container.add_stream("libx264", rate=12)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    for i in range(48):
        for packet in stream.encode(av.VideoFrame.from_ndarray(grid_frame(i, 64, 64), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return _halved(full, path)


BAD_INPUTS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "missing": (lambda d, v: d / "nope.mp4", "file_missing"),
    "directory": (lambda d, v: d, "not_a_file"),
    "zero_bytes": (lambda d, v: (d / "empty.mp4", (d / "empty.mp4").write_bytes(b""))[0], "empty_file"),
    "text_as_mp4": (lambda d, v: (d / "t.mp4", (d / "t.mp4").write_text("hello\n" * 100))[0], "not_a_video"),
    "text_as_txt": (lambda d, v: (d / "t.txt", (d / "t.txt").write_text("hello\n" * 100))[0], "not_a_video"),
    "png_image": (lambda d, v: _png(d / "i.mp4"), "not_a_video"),
    "random_bytes": (lambda d, v: (d / "r.mkv", (d / "r.mkv").write_bytes(os.urandom(4096)))[0], "not_a_video"),
    "audio_only": (lambda d, v: _audio_only(d / "a.m4a"), "no_video_stream"),
    "unknown_codec": (lambda d, v: _renamed_codec(v, d / "z.mp4"), "unsupported_codec"),
    "mp4_cut_in_half": (lambda d, v: _halved(v, d / "half.mp4"), "truncated_video"),
    "faststart_mp4_cut_in_half": (lambda d, v: _faststart_halved(d / "fs_half.mp4"), "truncated_video"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_probe_refuses_bad_input(case: str, tmp_path: Path, long_gop_video: Path) -> None:
    make, code = BAD_INPUTS[case]
    path = make(tmp_path, long_gop_video)
    with pytest.raises(VideoError) as caught:
        probe(path)
    assert caught.value.code == code, caught.value.message


@pytest.mark.parametrize(("limits", "code"), [
    ({"max_file_bytes": 100}, "file_too_large"),
    ({"max_duration": 10.0}, "video_too_long"),
    ({"max_pixels": 64 * 48}, "video_too_large"),
])
def test_probe_limits(long_gop_video: Path, limits: dict[str, float], code: str) -> None:
    with pytest.raises(LimitError) as caught:
        probe(long_gop_video, **limits)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert probe(long_gop_video, max_file_bytes=10**9, max_duration=25.5, max_pixels=98 * 62).num_frames == 300


# ---- exact frames, every backend ------------------------------------------------------------------


@pytest.mark.parametrize("backend", DECODING_BACKENDS)
@pytest.mark.parametrize("video", ["long_gop_video", "vfr_video", "wide_video", "rotated_90_video",
                                   "rotated_180_video", "rotated_270_video"])
def test_frames_exact(backend: str, video: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(video)
    reference = upright_reference(path)  # (N, H, W, 3)
    info = probe(path)
    with open_decoder(path, backend, info=info) as decoder:
        for indices in access_pattern(info.num_frames):
            frames = decoder.frames(indices)
            assert frames.shape == (len(indices), info.height, info.width, 3) and frames.dtype == np.uint8
            wrong = [i for row, i in enumerate(indices) if not np.array_equal(frames[row], reference[i])]
            assert not wrong, f"{backend} returned wrong frames for indices {wrong}"


@pytest.mark.parametrize("backend", DECODING_BACKENDS)
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_turns_the_picture_upright(backend: str, rotation: int, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(f"rotated_{rotation}_video")
    with open_decoder(path, backend) as decoder:
        frames = decoder.frames([0, 17])
    for row, index in enumerate([0, 17]):
        # close to the upright original, far from its neighbour: the right frame, the right way up
        error = np.abs(frames[row].astype(int) - grid_frame(index, 62, 98)).mean()
        other = np.abs(frames[row].astype(int) - grid_frame(index + 1, 62, 98)).mean()
        assert error < 8 < other


@pytest.mark.parametrize("backend", DECODING_BACKENDS)
@pytest.mark.parametrize("video", ["long_gop_video", "wide_video", "rotated_90_video"])
def test_frames_resized_and_centre_cropped(backend: str, video: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(video)
    reference = upright_reference(path)
    indices = [0, 7, 25, 38, 7]
    with open_decoder(path, backend) as decoder:
        frames = decoder.frames(indices, size=32)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    for row, index in enumerate(indices):
        expected = resized_reference(reference[index], 32).astype(int)
        neighbour = resized_reference(reference[index + 1], 32).astype(int)
        error = np.abs(frames[row] - expected).mean()
        # resampling filters differ (swscale vs PIL): near the right frame, far from the next one
        assert error < 20 and error < 0.3 * np.abs(frames[row] - neighbour).mean(), (index, error)


@pytest.mark.parametrize("backend", DECODING_BACKENDS)
@pytest.mark.parametrize("video", ["long_gop_video", "wide_video", "rotated_90_video", "rotated_270_video"])
def test_whole_frames_keep_the_aspect_and_hold_the_crop_at_their_centre(backend: str, video: str,
                                                                        request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(video)
    info = probe(path)
    indices = [0, 7, 25, 38, 7]
    with open_decoder(path, backend, info=info) as decoder:
        square = decoder.frames(indices, size=32)
        whole = decoder.frames(indices, size=32, crop=False)  # (N, H, W, 3): what thumbnails are made of
        undeblocked = decoder.frames(indices, size=32, crop=False, deblock=False)
    short, long = sorted((info.width, info.height))
    expected = (32, round(32 * long / short)) if info.height <= info.width else (round(32 * long / short), 32)
    assert whole.shape == undeblocked.shape == (5, *expected, 3)
    assert np.array_equal(centre_crop(whole, 32, axes=(1, 2)), square)


@pytest.mark.parametrize("backend", DECODING_BACKENDS)
def test_keyframe_mode_returns_nearest_keyframe_before(backend: str, long_gop_video: Path,
                                                       vfr_video: Path) -> None:
    for path in (long_gop_video, vfr_video):
        reference = upright_reference(path)
        info = probe(path)
        assert info.keyframes is not None
        indices = [5, info.num_frames - 1, 0, info.keyframes[-1], info.keyframes[-1] - 1]
        with open_decoder(path, backend, info=info) as decoder:
            frames, actual = decoder.keyframe_near(indices, size=None)
            # plain frames after keyframe mode are still exact (the decoder left NONKEY mode)
            again = decoder.frames([3])
        assert actual == [max(k for k in info.keyframes if k <= i) for i in indices]
        assert all(np.array_equal(frames[row], reference[i]) for row, i in enumerate(actual))
        assert np.array_equal(again[0], reference[3])


def test_pyav_keyframe_mode_decodes_only_keyframes(long_gop_video: Path) -> None:
    with PyAVDecoder(long_gop_video, threads=COUNTED_THREADS) as decoder:
        decoder.keyframe_near([10, 120, 260, 299])
        assert decoder.decoded_frames <= 2 + 2  # keyframes 0 and 250, and at most a frame of slack each
        assert decoder.seeks == 2  # straight to each, nothing between them demuxed


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 tiny frames (64×64), GOP 100: long enough that decoding all of it would show."""
    return write_grid_video(tmp_path_factory.mktemp("long") / "long.mp4", 3000, size=(64, 64), gop=100)


def test_decoding_is_memory_bounded(long_video: Path) -> None:
    info = probe(long_video)
    centres = [s.centre_frame for s in plan_snippets(info.num_frames, info.fps, num_snippets=8)]
    with PyAVDecoder(long_video, info) as decoder:
        tracemalloc.start()
        frames = decoder.frames(centres)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # each centre costs at most one GOP of decoding after a seek, never the whole video
        assert decoder.decoded_frames <= len(centres) * 100 < info.num_frames / 3
    frame_bytes = 64 * 64 * 3
    assert frames.shape == (8, 64, 64, 3)
    # the output plus a few frames in flight; the whole video would be 3000 × frame_bytes
    assert peak < 40 * frame_bytes, peak


def test_forward_requests_do_not_seek_back(long_gop_video: Path) -> None:
    with PyAVDecoder(long_gop_video, threads=COUNTED_THREADS) as decoder:
        decoder.frames([10, 20])
        decoder.frames([30, 40])  # ahead, same GOP: keep decoding forward
        assert decoder.seeks == 1
        assert decoder.decoded_frames <= 41 + 4
        decoder.frames([260])  # beyond the next keyframe: seek
        assert decoder.seeks == 2 and decoder.decoded_frames <= 41 + 4 + 11 + 4


def test_bad_requests(long_gop_video: Path) -> None:
    with open_decoder(long_gop_video) as decoder:
        with pytest.raises(OptionsError):
            decoder.frames([300])
        with pytest.raises(OptionsError):
            decoder.frames([-1])
        assert decoder.frames([]).shape == (0, 62, 98, 3)
    with pytest.raises(OptionsError):
        open_decoder(long_gop_video, "nonexistent")
    with pytest.raises(OptionsError):
        open_decoder(long_gop_video, "tests.pipelines.no_such_module:Decoder")


def test_backend_by_import_path(long_gop_video: Path) -> None:
    with open_decoder(long_gop_video, "pipelines.decoding:PyAVDecoder") as decoder:
        assert isinstance(decoder, PyAVDecoder)


# ---- isolation ------------------------------------------------------------------------------------


def test_isolated_decoder_is_exact_and_keeps_its_child(long_gop_video: Path) -> None:
    reference = sequential_frames(long_gop_video)
    with IsolatedDecoder(long_gop_video, "pyav", timeout_s=20) as decoder:  # the default limit
        assert decoder.info.num_frames == 300
        pid = decoder.pid
        for indices in access_pattern(300):
            frames = decoder.frames(indices)
            assert all(np.array_equal(frames[row], reference[i]) for row, i in enumerate(indices))
        small = decoder.frames([4, 4], size=24)
        assert small.shape == (2, 24, 24, 3)
        assert decoder.frames([]).shape == (0, 62, 98, 3)
        key_frames, actual = decoder.keyframe_near([260, 3])
        assert actual == [250, 0] and np.array_equal(key_frames[0], reference[250])
        with pytest.raises(OptionsError):  # a bad request is reported, and the child lives on
            decoder.frames([1000])
        assert decoder.pid == pid is not None
    assert decoder.pid is None


def test_isolated_open_error_keeps_its_code(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    with IsolatedDecoder(text, "pyav", timeout_s=20) as decoder, pytest.raises(VideoError) as caught:
        decoder.frames([0])
    assert caught.value.code == "not_a_video"


def test_hang_times_out_and_caller_survives(long_gop_video: Path) -> None:
    decoder = IsolatedDecoder(long_gop_video, f"{FAULTS}:HangingDecoder", timeout_s=1.0)
    assert decoder.info.num_frames == 300  # started; only requests hang
    pid = decoder.pid
    assert pid is not None
    with pytest.raises(DecodeError) as caught:  # the request never ends by itself: only the timeout returns
        decoder.frames([1, 2])
    assert caught.value.code == "decode_timeout"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the hung child is gone, not leaked
    decoder.close()


@pytest.mark.parametrize(("backend", "signal_name"), [("AbortingDecoder", "SIGABRT"),
                                                      ("SegfaultingDecoder", "SIGSEGV")])
def test_crash_is_reported_and_caller_survives(long_gop_video: Path, backend: str, signal_name: str) -> None:
    with IsolatedDecoder(long_gop_video, f"{FAULTS}:{backend}", timeout_s=20) as decoder:
        with pytest.raises(DecodeError) as caught:
            decoder.frames([0])
        assert caught.value.code == "decoder_crashed"
        assert signal_name in caught.value.message
    with IsolatedDecoder(long_gop_video, "pyav", timeout_s=20) as healthy:
        assert healthy.frames([0]).shape == (1, 62, 98, 3)


def test_memory_limit_is_enforced(long_gop_video: Path) -> None:
    with IsolatedDecoder(long_gop_video, f"{FAULTS}:GreedyDecoder", timeout_s=20,
                         memory_limit_bytes=1 << 30) as decoder, pytest.raises(DecodeError) as caught:
        decoder.frames([0])
    assert caught.value.code == "decoder_out_of_memory"


def test_killed_child_is_reported_then_replaced(long_gop_video: Path) -> None:
    reference = sequential_frames(long_gop_video)
    with IsolatedDecoder(long_gop_video, "pyav", timeout_s=20) as decoder:
        decoder.frames([0])
        pid = decoder.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(DecodeError) as caught:
            decoder.frames([5])
        assert caught.value.code == "decoder_crashed"
        frames = decoder.frames([5, 120])  # a fresh child serves the next request
        assert decoder.pid not in (None, pid)
        assert np.array_equal(frames[1], reference[120])


def test_isolated_decord(long_gop_video: Path) -> None:
    if "decord" not in BACKENDS:
        pytest.skip("decord not installed")
    reference = sequential_frames(long_gop_video)
    with IsolatedDecoder(long_gop_video, "decord", timeout_s=20) as decoder:
        frames = decoder.frames([299, 3])
    assert np.array_equal(frames[0], reference[299]) and np.array_equal(frames[1], reference[3])


def test_torchcodec_registered_only_when_importable() -> None:
    import importlib.util

    assert ("torchcodec" in BACKENDS) == (importlib.util.find_spec("torchcodec") is not None)


def test_write_grid_video_round_trip(tmp_path: Path) -> None:
    """The helper the other tests rely on: distinct frames survive encoding."""
    path = write_grid_video(tmp_path / "g.mp4", 6, size=(32, 48))
    frames = sequential_frames(path)
    errors = [np.abs(frames[i].astype(int) - grid_frame(i, 32, 48)).mean() for i in range(6)]
    assert max(errors) < 8


def test_torchcodec_without_ffmpeg_libraries_is_a_clear_options_error(
    long_gop_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.decoding.backends import TorchCodecDecoder

    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)  # the import fails as without FFmpeg
    with pytest.raises(OptionsError, match=r"torchcodec.*FFmpeg"):
        TorchCodecDecoder(long_gop_video)


@pytest.mark.skipif("torchcodec" not in BACKENDS, reason="torchcodec is not installed")
def test_torchcodec_decodes_a_slice_at_a_time_the_same_frames(long_gop_video: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames are decoded and resized `TorchCodecDecoder.SLICE` at a time (whole frames for every target at once
    would not fit a GPU at HD sizes): slices change no frame, nor the order or repeats asked for."""
    from pipelines.decoding.backends import TorchCodecDecoder

    wanted = [250, 3, 3, 17, 299, 0, 120, 121, 122, 249]
    with open_decoder(long_gop_video, "torchcodec") as decoder:
        whole = decoder.frames(wanted, size=32)
    monkeypatch.setattr(TorchCodecDecoder, "SLICE", 3)
    with open_decoder(long_gop_video, "torchcodec") as decoder:
        sliced = decoder.frames(wanted, size=32)
    assert sliced.shape == (len(wanted), 32, 32, 3)
    assert np.array_equal(sliced, whole)


@pytest.mark.skipif("torchcodec" not in BACKENDS, reason="torchcodec is not installed")
def test_torchcodec_failure_is_the_videos_decode_error(long_gop_video: Path) -> None:
    """A frame torchcodec cannot produce (here: one past its count, which the probe claimed) fails the video with
    `decode_failed`, as a decoding child's failure does, never as an internal error."""
    info = probe(long_gop_video)
    claimed = dataclasses.replace(info, num_frames=info.num_frames + 5)
    with open_decoder(long_gop_video, "torchcodec", info=claimed) as decoder, pytest.raises(DecodeError) as caught:
        decoder.frames([info.num_frames + 2])
    assert caught.value.code == "decode_failed"


# ---- decode cost ----------------------------------------------------------------------------------


def test_probe_reads_reference_flags_and_decode_order(long_gop_video: Path) -> None:
    table = probe(long_gop_video).table
    assert table is not None
    assert table.reference[list(table.keyframes)].all()
    assert 0 < (~table.reference).sum() < 300 / 2  # x264's plain B-frames refer to nothing
    assert sorted(table.decode_order.tolist()) == list(range(300))
    assert (table.decode_order != np.arange(300)).any()  # B-frames: decode order is not display order


def test_skipping_non_reference_frames_is_exact_and_cheaper(long_gop_video: Path) -> None:
    reference = sequential_frames(long_gop_video)
    targets = [7, 40, 41, 120, 200, 260, 299]
    counts = {}
    for skip in (True, False):
        with PyAVDecoder(long_gop_video) as decoder:
            frames = decoder.frames(targets, skip_nonref=skip)
            counts[skip] = decoder.decoded_frames
        assert all(np.array_equal(frames[row], reference[i]) for row, i in enumerate(targets))
    assert counts[True] < 0.8 * counts[False]


def test_cost_model_predicts_what_the_decoder_decodes(long_gop_video: Path) -> None:
    from pipelines.decoding import DecodeCost

    info = probe(long_gop_video)
    assert info.table is not None
    cost = DecodeCost(info.table)
    rng = np.random.default_rng(0)
    for _ in range(6):
        targets = sorted(rng.choice(300, size=int(rng.integers(1, 12)), replace=False).tolist())
        for skip in (True, False):
            with PyAVDecoder(long_gop_video, info, threads=COUNTED_THREADS) as decoder:
                decoder.frames(targets, skip_nonref=skip)
                predicted = cost.frames(targets, skip_nonref=skip)
                # the codec is drained at the end of each run but the last (the next request may go on
                # from there): only that run can take in a few frames of look-ahead
                assert predicted <= decoder.decoded_frames <= predicted + 4
    assert cost.frames([0]) == 1 and cost.frames([260], keyframes_only=True) == 1
    assert cost.depth(249) > cost.depth(10) and cost.depth(249, skip_nonref=False) > cost.depth(249)


def test_light_decoding_without_deblocking_is_close_to_exact(long_gop_video: Path) -> None:
    reference = sequential_frames(long_gop_video)
    with PyAVDecoder(long_gop_video) as decoder:
        fast = decoder.frames([10, 200], deblock=False)
        exact = decoder.frames([10, 200])
    assert np.array_equal(exact[1], reference[200])
    error = np.abs(fast.astype(int) - reference[[10, 200]].astype(int)).mean()
    assert 0 < error < 12  # drift from unfiltered references, but the same picture


def test_decoder_pool_reuses_children_across_videos(long_gop_video: Path, vfr_video: Path) -> None:
    from pipelines.decoding import DecoderPool

    reference = sequential_frames(long_gop_video)
    with DecoderPool(1, memory_limit_bytes=1 << 30) as pool:
        with IsolatedDecoder(long_gop_video, "pyav", timeout_s=20, pool=pool) as first:
            assert np.array_equal(first.frames([120])[0], reference[120])
            assert first.decoded_frames > 0
            pid = first.pid
            assert pid is not None
        with IsolatedDecoder(vfr_video, "pyav", timeout_s=20, pool=pool) as second:
            assert second.frames([3]).shape[0] == 1
            assert second.pid == pid  # the same child, handed on after a clean close
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(DecodeError):
                second.frames([4])
        with IsolatedDecoder(long_gop_video, "pyav", timeout_s=20, pool=pool) as third:
            assert np.array_equal(third.frames([299])[0], reference[299])
            assert third.pid not in (None, pid)  # a dead child is never handed out


def test_decoder_pool_keeps_size_children_in_all(long_gop_video: Path) -> None:
    """Videos that come and go as many at once as the pool's size never start a child: the pool keeps ``size``
    children, busy and idle together (not ``size`` idle ones beside the busy ones, which started a child and
    stopped another every few videos). A video beyond the size gets a child of its own, stopped at its close."""
    from pipelines.decoding import DecoderPool

    def open_video() -> IsolatedDecoder:
        decoder = IsolatedDecoder(long_gop_video, "pyav", timeout_s=20, pool=pool)
        assert decoder.frames([7]).shape[0] == 1
        return decoder

    with DecoderPool(2, memory_limit_bytes=1 << 30) as pool:
        assert pool.started == 2
        for _ in range(3):  # two at once, closed in either order
            first, second = open_video(), open_video()
            first.close()
            second.close()
            third = open_video()  # one alone, while a second one opens and closes
            open_video().close()
            third.close()
        assert pool.started == 2
        extra = [open_video() for _ in range(3)]
        assert pool.started == 3
        pids = {decoder.pid for decoder in extra}
        for decoder in extra:
            decoder.close()
        kept = [open_video(), open_video()]
        assert {decoder.pid for decoder in kept} < pids and pool.started == 3  # two kept, the third stopped
        for decoder in kept:
            decoder.close()


def test_pool_children_decode_with_the_codec_threads_the_pool_gives_them(long_gop_video: Path) -> None:
    """By default the cores are shared out among the children (one codec thread each when there are as many
    children as cores); the number reaches the child's codec (its frame threads are threads of the child)."""
    from pipelines.decoding import DecoderPool
    from pipelines.decoding.isolation import cores

    with DecoderPool(2) as shared:
        assert shared.codec_threads == max(1, cores() // 2)

    def threads_after_decoding(codec_threads: int) -> int:
        with (DecoderPool(1, codec_threads=codec_threads) as pool,
              IsolatedDecoder(long_gop_video, "pyav", timeout_s=20, pool=pool) as decoder):
            assert decoder.frames([5, 60]).shape[0] == 2
            return len(os.listdir(f"/proc/{decoder.pid}/task"))

    assert threads_after_decoding(4) - threads_after_decoding(1) >= 3


def test_auto_backend_is_pyav_without_a_gpu() -> None:
    from pipelines.decoding import choose_backend, gpu_decoding_works

    assert choose_backend("auto", device="cpu") == "pyav"
    assert choose_backend("decord", device="cuda") == "decord"
    if not gpu_decoding_works():
        assert choose_backend("auto", device="cuda") == "pyav"


def test_gpu_decoding_is_exact(long_gop_video: Path) -> None:
    from pipelines.decoding import gpu_decoding_works

    if not gpu_decoding_works():
        pytest.skip("no CUDA device with torchcodec here")
    reference = sequential_frames(long_gop_video)
    with open_decoder(long_gop_video, "torchcodec-cuda") as decoder:
        frames = decoder.frames([299, 3, 120])
    # NVDEC output matches the CPU decoder's to within colour-conversion rounding
    errors = [np.abs(frames[i].astype(int) - reference[j].astype(int)).mean() for i, j in enumerate([299, 3, 120])]
    assert max(errors) < 3


def test_decoding_children_keep_few_malloc_arenas(long_gop_video: Path) -> None:
    """Under the children's address-space limit, a malloc arena per codec and scaler thread (glibc's default,
    up to 8 per core) reserved past 4 GiB on a 16-core machine; the children run with two arenas."""
    from pipelines.decoding import DecoderPool

    with DecoderPool(1) as pool, IsolatedDecoder(long_gop_video, "pyav", timeout_s=20, pool=pool) as decoder:
        assert decoder.frames([5]).shape[0] == 1
        environ = Path(f"/proc/{decoder.pid}/environ").read_bytes().split(b"\0")
    assert b"MALLOC_ARENA_MAX=2" in environ
    assert b"OPENBLAS_NUM_THREADS=1" in environ
