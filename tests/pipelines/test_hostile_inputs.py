"""Hostile files and runaway decodes: refused by content with a code, limited in an isolated child, cancellable."""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path

import pytest
import torch

from pipelines.decoding import IsolatedDecoder, probe, probe_isolated
from pipelines.errors import Cancelled, DecodeError, VideoError, VidgateError
from pipelines.options import Options
from pipelines.recognizer import Recognizer

from ..helpers import tiny_checkpoint, write_test_video
from .hostile import Hostile, write_hostile_files

FAULTS = "tests.pipelines.fault_backends"
probe_module = importlib.import_module("pipelines.decoding.probe")
zygote_module = importlib.import_module("pipelines.decoding._zygote")
LIMITS = {"max_duration": 4 * 3600.0, "max_pixels": 3840 * 2160}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Hostile]:
    return {h.name: h for h in write_hostile_files(tmp_path_factory.mktemp("hostile"))}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames=96, fps=12)


def test_there_are_at_least_thirty_hostile_files(hostile: dict[str, Hostile]) -> None:
    assert len(hostile) >= 30 and len({h.code for h in hostile.values()}) >= 6


def test_every_hostile_file_gets_its_code(hostile: dict[str, Hostile]) -> None:
    wrong = {}
    for h in hostile.values():
        try:
            probe(h.path, **LIMITS)  # type: ignore[arg-type]
            wrong[h.name] = "accepted"
        except VidgateError as exc:
            if exc.code != h.code:
                wrong[h.name] = exc.code
    assert wrong == {}


def test_a_concat_list_that_names_itself_is_refused_before_demuxing(hostile: dict[str, Hostile]) -> None:
    path = hostile["self_concat.mp4"].path
    assert path.name == "input"  # stored the way the API stores uploads: the list names itself
    with pytest.raises(VideoError) as caught:
        probe(path)
    assert caught.value.code == "unsupported_container"
    assert "refers to other files" in caught.value.message  # the signature check's words: FFmpeg never opened it


def test_only_allow_listed_demuxers_open(hostile: dict[str, Hostile]) -> None:
    assert "concat" not in probe_module.ACCEPTED_DEMUXERS and "hls" not in probe_module.ACCEPTED_DEMUXERS
    with pytest.raises(VideoError) as caught:  # FFmpeg's own detection says gif: not on the list
        probe(hostile["picture.gif"].path)
    assert caught.value.code == "not_a_video"


def test_isolated_probe_matches_the_in_process_probe(video: Path, hostile: dict[str, Hostile]) -> None:
    assert probe_isolated(video, timeout_s=30) == probe(video)
    for name in ("self_concat.mp4", "notes.mp4", "huge_frame.mp4", "half.mp4"):
        with pytest.raises(VidgateError) as caught:
            probe_isolated(hostile[name].path, timeout_s=30, max_pixels=3840 * 2160)
        assert caught.value.code == hostile[name].code


def test_the_child_has_a_file_handle_limit(video: Path) -> None:
    with IsolatedDecoder(video, f"{FAULTS}:FileHoggingDecoder", timeout_s=30) as decoder, \
            pytest.raises(DecodeError) as caught:
        decoder.frames([0])
    assert caught.value.code == "decode_failed" and "Too many open files" in caught.value.message


def test_a_cancel_stops_a_decoder_request_in_flight(video: Path) -> None:
    asked = threading.Event()
    threading.Timer(0.5, asked.set).start()
    decoder = IsolatedDecoder(video, f"{FAULTS}:SlowDecoder", timeout_s=60, should_cancel=asked.is_set)
    with pytest.raises(Cancelled):  # not decode_timeout at 60 s: the cancel cut the 20-minute request short
        decoder.frames(list(range(40)))
    assert decoder.pid is None  # the child was stopped, not left decoding
    decoder.close()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_the_recognizer_never_opens_the_container_itself(checkpoint: Path, video: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(path: Path) -> None:
        raise AssertionError("the caller's process opened the video")

    monkeypatch.setattr(probe_module, "open_container", forbidden)  # in this process only, not in the child
    recognizer = Recognizer(checkpoint, isolate=True, decode_timeout_s=60)
    result = recognizer.recognize(video, Options(budget=0.5))
    assert result.num_frames == 96


def test_a_cancel_during_the_light_pass_is_prompt(checkpoint: Path, video: Path) -> None:
    recognizer = Recognizer(checkpoint, isolate=True, decode_timeout_s=60, backend=f"{FAULTS}:SlowDecoder",
                            retain_passed=False)
    asked = threading.Event()
    threading.Timer(1.0, asked.set).start()
    with pytest.raises(Cancelled):  # not decode_timeout at 60 s: the light pass's requests take minutes each
        recognizer.recognize(video, Options(budget=0.5), should_cancel=asked.is_set)


def test_a_failing_heavy_pass_waits_for_its_prefetch(checkpoint: Path, video: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    recognizer = Recognizer(checkpoint, isolate=True, decode_timeout_s=60, heavy_batch=1, retain_passed=False)
    events: list[str] = []
    original_frames, original_close = IsolatedDecoder.frames, IsolatedDecoder.close

    def frames(self: IsolatedDecoder, indices: list[int], *, size: int | None = None) -> object:
        events.append("decode-start")
        time.sleep(0.3)
        out = original_frames(self, indices, size=size)
        events.append("decode-end")
        return out

    def close(self: IsolatedDecoder) -> None:
        events.append("close")
        original_close(self)

    def broken(clips: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("the heavy network failed")

    monkeypatch.setattr(IsolatedDecoder, "frames", frames)
    monkeypatch.setattr(IsolatedDecoder, "close", close)
    monkeypatch.setattr(recognizer.model, "encode_snippets", broken)
    with pytest.raises(RuntimeError, match="heavy network failed"):
        recognizer.recognize(video, Options(mode="dense"))
    assert events[-1] == "close" and events.count("decode-start") == events.count("decode-end")


def test_probes_are_forked_from_a_warm_server_that_comes_back(video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolation = importlib.import_module("pipelines.decoding.isolation")
    probe_isolated(video, timeout_s=30)
    server = isolation._ZYGOTE._server
    assert server is not None and server.poll() is None
    parents: list[int] = []
    forked_init = zygote_module.Forked.__init__

    def record_parent(self: object, pid: int) -> None:  # the child waits for its request: it is alive here
        parents.append(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
        forked_init(self, pid)

    monkeypatch.setattr(zygote_module.Forked, "__init__", record_parent)
    for _ in range(5):
        probe_isolated(video, timeout_s=30)
    assert parents == [server.pid] * 5  # each probe a fork of the one warm server, not a new interpreter
    assert isolation._ZYGOTE._server is server
    server.kill()  # the fork server dies: the next probe starts another
    server.wait(10)
    assert probe_isolated(video, timeout_s=30) == probe(video)
    assert isolation._ZYGOTE._server is not server
