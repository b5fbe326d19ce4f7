"""One decoder interface, several backends: PyAV (default), decord, torchcodec (when installed).

Every backend returns ``(N, H, W, 3) uint8`` RGB frames in the requested order (duplicates allowed),
upright (rotation metadata applied), optionally resized so the shorter side is ``size`` and
centre-cropped to ``size × size``.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar, cast, overload

import av
import av.error
import numpy as np

from ..errors import DecodeError, OptionsError
from .probe import FrameTable, VideoInfo, frame_table, keyframe_before, open_container, probe

if TYPE_CHECKING:  # the decoding children import this module without torch
    import torch

_D = TypeVar("_D", bound="Decoder")
_F = TypeVar("_F", bound="np.ndarray | torch.Tensor")


class Decoder(ABC):
    """Decodes chosen frames of one video. Use as a context manager, or call :meth:`close`."""

    info: VideoInfo

    #: frames handed to the codec so far (all requests); backends that cannot count leave it at 0
    decoded_frames: int = 0

    @abstractmethod
    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        """Frames ``indices`` (any order, duplicates allowed) as ``(N, H, W, 3) uint8`` RGB.

        Args:
            indices: frame indices in ``[0, num_frames)``.
            size: resize the shorter side to ``size`` and centre-crop to ``size × size``; None keeps
                the full upright frame.
            crop: False leaves out the centre crop: the whole frame, its shorter side ``size`` (the
                crop is then the centre ``size × size`` of it, `centre_crop`: what the recognizer does,
                keeping the whole frame for thumbnails).
            skip_nonref: on the way to a target, leave out non-reference frames nobody asked for
                (exact: no other frame depends on them). Backends that cannot ignore it.
            deblock: False lets the backend skip the codec's in-loop deblocking filter: faster, and
                the pixels drift slightly from the exact ones (for the light pass only). Backends
                that cannot ignore it.
        """

    def keyframe_near(self, indices: Sequence[int], *, size: int | None = None) -> tuple[np.ndarray, list[int]]:
        """Fast mode: the nearest keyframe at or before each index, and the indices actually returned."""
        keys = self.info.keyframes
        actual = [keyframe_before(keys, i) if keys else i for i in self._checked(indices)]
        return self.frames(actual, size=size), actual

    @abstractmethod
    def close(self) -> None:
        """Release the file and any decoder state."""

    def __enter__(self: _D) -> _D:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _checked(self, indices: Sequence[int]) -> list[int]:
        out = [int(i) for i in indices]
        bad = [i for i in out if not 0 <= i < self.info.num_frames]
        if bad:
            raise OptionsError(f"frame indices out of range [0, {self.info.num_frames}): {bad[:5]}")
        return out


DecoderFactory = Callable[[Path, "VideoInfo | None"], Decoder]


class PyAVDecoder(Decoder):
    """PyAV (FFmpeg) decoder that seeks only when it pays and maps frames through the pts table.

    Requests are served in ascending order of index: the decoder seeks to the keyframe before a
    target only when that keyframe lies beyond the frames already decoded; otherwise it decodes
    forward. Only requested frames are kept (converted straight to the output size). Non-reference
    frames that were not asked for are not handed to the codec at all (``skip_nonref``; exact, see
    :mod:`pipelines.decoding.cost`, whose model follows this strategy).

    Args:
        path: the video file.
        info: the result of :func:`probe` if already known.
        threads: codec threads (0: FFmpeg's choice).
        deblock: False opens the codec with its in-loop deblocking filter off (inexact, faster).

    Attributes:
        decoded_frames: frames handed to the codec so far (all requests), for tests and benchmarks.
        seeks: seeks performed so far.
    """

    def __init__(self, path: str | Path, info: VideoInfo | None = None, *, threads: int = 0,
                 deblock: bool = True) -> None:
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        self._threads = threads
        self._container = open_container(self.path)
        try:
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            self._stream.codec_context.thread_count = threads
            if not deblock:
                self._stream.codec_context.options = {"skip_loop_filter": "all"}
            self._table: FrameTable = frame_table(self.path, self._container, self._stream)
        except BaseException:
            self._container.close()
            raise
        self._decoded: Iterator[av.VideoFrame] | None = None  # forward decoding since the last seek
        self._position = -1  # index of the last frame taken from ``_decoded``
        self._skippable: np.ndarray | None = None  # frames not to hand to the codec in this request
        self._skipped: set[int] = set()  # frames left out since the last seek
        self._drain_at: int | None = None  # decode position after which the codec is drained (end of a run)
        self._first_packet: int | None = None  # decode position of the keyframe sought last (earlier: left out)
        self._awaiting_keyframe = False  # after a seek, until the first keyframe packet (none before it decodes)
        self._undeblocked: PyAVDecoder | None = None  # a second reader for ``deblock=False`` requests
        self._keyset = set(self._table.keyframes.tolist())
        self._own_decoded = 0
        self.seeks = 0

    @property
    def decoded_frames(self) -> int:  # type: ignore[override]
        return self._own_decoded + (self._undeblocked.decoded_frames if self._undeblocked is not None else 0)

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        wanted = self._checked(indices)
        if not deblock:
            if self._undeblocked is None:
                self._undeblocked = PyAVDecoder(self.path, self.info, threads=self._threads, deblock=False)
            return self._undeblocked.frames(wanted, size=size, skip_nonref=skip_nonref, crop=crop)
        if len(wanted) > 1 and all(i in self._keyset for i in wanted):
            return self._keyframes(wanted, size, crop)  # e.g. the aligned light pass: keyframes only
        skippable = None
        reference = self._table.reference
        if skip_nonref and reference.shape[0] == self._table.num_frames:
            skippable = ~reference
            skippable[wanted] = False
        return self._gather(wanted, size, keyframes_only=False, skippable=skippable, crop=crop)

    def keyframe_near(self, indices: Sequence[int], *, size: int | None = None) -> tuple[np.ndarray, list[int]]:
        actual = [self._table.keyframe_before(i) for i in self._checked(indices)]
        return self._keyframes(actual, size), actual

    def _keyframes(self, keyframes: list[int], size: int | None, crop: bool = True) -> np.ndarray:
        """Keyframes only: a seek to each, its one packet handed to the codec, and the codec drained. Demuxing
        forward through the packets between them instead costs more than the seeks (docs/decoding.md). A keyframe
        depends on nothing: every packet but the sought one's is left out, so a seek that lands a keyframe early
        (an MP4 edit list) decodes nothing more, and one that lands late (MPEG-TS) retries from an earlier one."""
        skippable = np.ones(self._table.num_frames, dtype=bool)  # `_gather` lets each target through in turn
        try:
            return self._gather(keyframes, size, keyframes_only=True, skippable=skippable, crop=crop)
        finally:
            self._decoded = None  # keyframes alone are no base for forward decoding

    def close(self) -> None:
        self._decoded = None
        if self._undeblocked is not None:
            self._undeblocked.close()
        self._container.close()

    def _gather(self, indices: list[int], size: int | None, *, keyframes_only: bool,
                skippable: np.ndarray | None, crop: bool = True) -> np.ndarray:
        h, w = (size, size) if size and crop else self._whole(size)
        out = np.empty((len(indices), h, w, 3), dtype=np.uint8)  # (N, H, W, 3)
        targets, rows = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        self._skippable = skippable
        order = targets.tolist()
        try:
            for j, target in enumerate(order):
                # The next target lies beyond a keyframe (a seek): once this one's packets are in, drain the
                # codec instead of feeding it look-ahead frames that would be thrown away. The last target of
                # a request is not drained: the next request may go on forward from it. Keyframes wanted alone
                # are each sought, let through alone and drained.
                last_of_run = keyframes_only or (j + 1 < len(order)
                                                 and self._table.keyframe_before(order[j + 1]) > target)
                if keyframes_only:
                    assert skippable is not None
                    if j:
                        skippable[order[j - 1]] = True
                    skippable[target] = False
                self._drain_at = self._last_packet(target) if last_of_run else None
                frame = self._frame(target, keyframes_only)
                out[rows == j] = self._to_array(frame, size, crop)
        finally:
            self._skippable, self._drain_at = None, None
        return out

    def _last_packet(self, target: int) -> int | None:
        """Decode position of the last packet the codec needs before it can show ``target``."""
        order = self._table.decode_order
        if order.shape[0] != self._table.num_frames:
            return None
        first = self._table.keyframe_before(target)
        needed = order[first : target + 1]
        if self._skippable is not None:
            needed = needed[~self._skippable[first : target + 1]]
        return int(needed.max()) if needed.size else None

    def _frame(self, target: int, keyframes_only: bool) -> av.VideoFrame:
        """Decode up to frame ``target``: forward from the current position, or after a seek."""
        keyframe = self._table.keyframe_before(target)
        # A keyframe wanted alone is sought straight away; a frame left out on the way can only come back from
        # its keyframe.
        if (keyframes_only or self._decoded is None or target <= self._position or keyframe > self._position
                or target in self._skipped):
            self._seek(keyframe, exact_from=keyframe)
        sought = keyframe
        for attempt in range(4):
            assert self._decoded is not None
            for frame in self._decoded:
                index = self._table.index_of(frame.pts)
                if index is None or index <= self._position:
                    continue  # no timestamp, or a leading picture from before the seek point (open GOP)
                if index > target:
                    break  # the target never came out (seek landed late, or a dropped frame)
                self._position = index
                if index == target:
                    return frame
            # Retry from an earlier keyframe (the first time still as if it landed on the one sought), finally
            # from the very start of the file.
            keyframe = self._table.keyframe_before(keyframe - 1) if keyframe > 0 else 0
            self._seek(keyframe, to_start=keyframe == 0 or attempt >= 2, exact_from=None if attempt else sought)
        raise DecodeError(f"{self.path.name}: frame {target} was not produced by the decoder",
                          code="decode_failed")

    def _seek(self, keyframe: int, *, to_start: bool = False, exact_from: int | None = None) -> None:
        """Seek to ``keyframe`` (``to_start``: to the start of the file). With ``exact_from`` (a keyframe at or after
        it), decode as if the seek had landed exactly on that keyframe: a demuxer may land before it (an MP4 edit
        list: a GOP early) or just after it (MPEG-TS: at a frame that cannot be decoded without it), so packets
        before it in the file, and any before the first keyframe's, are left out."""
        try:
            if to_start:
                self._container.seek(0, backward=True, any_frame=False)
                keyframe = 0
            else:
                pts = int(self._table.pts[keyframe])
                self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self.path.name}: seek to frame {keyframe} failed: {exc.strerror}",
                              code="decode_failed") from exc
        self.seeks += 1
        self._skipped.clear()
        self._position = keyframe - 1
        self._first_packet = None if exact_from is None else self._decode_position(exact_from)
        self._awaiting_keyframe = exact_from in self._keyset  # a stream without keyframe flags: nothing to await
        self._decoded = self._decode()

    def _decode_position(self, index: int) -> int | None:
        order = self._table.decode_order
        return int(order[index]) if order.shape[0] == self._table.num_frames else None

    def _decode(self) -> Iterator[av.VideoFrame]:
        try:
            for packet in self._container.demux(self._stream):
                index = self._table.index_of(packet.pts) if packet.size else None
                if index is not None and ((self._skippable is not None and self._skippable[index])
                                          or self._before_seek_point(index)):
                    self._skipped.add(index)
                    continue  # nothing refers to this frame and nobody asked for it, or it precedes the keyframe
                if self._awaiting_keyframe and packet.size:
                    if not packet.is_keyframe:
                        if index is not None:
                            self._skipped.add(index)
                        continue  # landed past the keyframe: nothing decodes before the next one
                    self._awaiting_keyframe = False
                self._own_decoded += packet.size > 0
                yield from packet.decode()
                drain = self._drain_at
                if drain is not None and index is not None and int(self._table.decode_order[index]) >= drain:
                    yield from self._stream.codec_context.decode(None)  # out with what it holds; the next
                    return  # request seeks, which resets the codec
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self.path.name}: decoding failed: {exc.strerror}", code="decode_failed") from exc

    def _before_seek_point(self, index: int) -> bool:
        first = self._first_packet
        return first is not None and int(self._table.decode_order[index]) < first

    def _whole(self, size: int | None) -> tuple[int, int]:
        """Height and width of a whole upright frame, its shorter side ``size`` (None: as displayed)."""
        if size is None:
            return self.info.height, self.info.width
        width, height = _scaled(self.info.width, self.info.height, size)  # (upright)
        return height, width

    def _to_array(self, frame: av.VideoFrame, size: int | None, crop: bool = True) -> np.ndarray:
        if size is None:
            array = frame.to_ndarray(format="rgb24")  # (h, w, 3)
        else:
            # One swscale pass converts and shrinks; area averaging avoids aliasing on downscale.
            if crop:
                width, height = _scaled(frame.width, frame.height, size)
            else:  # the probed shape (as stored; turned upright below): every frame of a request fits
                upright_h, upright_w = self._whole(size)
                turned = self.info.rotation in (90, 270)
                width, height = (upright_h, upright_w) if turned else (upright_w, upright_h)
            small = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
            array = _upright(small.to_ndarray(), self.info.rotation)  # upright first: the crop is the upright centre
            return _centre_crop(array, size) if crop else array  # (size, size, 3) or whole
        return _upright(array, self.info.rotation)


class DecordDecoder(Decoder):
    """decord decoder (bundled FFmpeg; fast batched reads, known to be inexact on some streams).

    decord resizes inside its decoder when given ``width``/``height`` at open time, so one reader is
    kept per output size. It turns rotated videos upright on its own.
    """

    def __init__(self, path: str | Path, info: VideoInfo | None = None) -> None:
        try:
            import decord
        except ImportError as exc:
            raise OptionsError(f"decoder backend 'decord' needs the optional package: pip install 'vidgate[decord]' "
                               f"({exc})") from exc

        self._decord = decord
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        self._readers: dict[int | None, decord.VideoReader] = {}

    def _reader(self, size: int | None) -> object:
        if size not in self._readers:
            # decord applies the rotation metadata itself, and its width/height are display dimensions.
            width, height = _scaled(self.info.width, self.info.height, size) if size else (-1, -1)
            try:
                self._readers[size] = self._decord.VideoReader(str(self.path), ctx=self._decord.cpu(0),
                                                               width=width, height=height, num_threads=0)
            except self._decord.DECORDError as exc:
                raise DecodeError(f"{self.path.name}: decord cannot open it: {exc}", code="decode_failed") from exc
        return self._readers[size]

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        wanted = self._checked(indices)
        reader = self._reader(size)
        try:
            batch = reader.get_batch(wanted).asnumpy()  # type: ignore[attr-defined]  # (N, h, w, 3)
        except self._decord.DECORDError as exc:
            raise DecodeError(f"{self.path.name}: decord failed: {exc}", code="decode_failed") from exc
        if size and crop:
            batch = _centre_crop(batch, size, axes=(1, 2))
        return np.ascontiguousarray(batch)

    def close(self) -> None:
        self._readers.clear()


class TorchCodecDecoder(Decoder):
    """torchcodec decoder (needs system FFmpeg libraries). Exact seek mode. Not installed in CI.

    torchcodec releases that report ``metadata.rotation`` turn frames upright themselves; older ones
    return them as stored, and this class applies the probed rotation. ``device="cuda"`` decodes on
    the GPU (NVDEC) and resizes and crops there. `frames` brings them to the host as ``uint8`` arrays like
    every backend's; `tensors` leaves them on the device, and ``on_device=True`` tells the recognizer to
    ask for those (`pipelines.passes.decode`), so they reach the model without a round trip through the host.

    Args:
        path: the video file.
        info: the result of :func:`probe` if already known.
        device: where torchcodec decodes (``cpu``, ``cuda[:N]``).
        on_device: the recognizer keeps this decoder's frames on ``device`` (a CUDA device only).
    """

    def __init__(self, path: str | Path, info: VideoInfo | None = None, *, device: str = "cpu",
                 on_device: bool = False) -> None:
        try:
            from torchcodec.decoders import VideoDecoder
        except (ImportError, OSError, RuntimeError) as exc:  # installed, but FFmpeg's libraries are missing
            raise OptionsError(f"decoder backend 'torchcodec' cannot load (it needs FFmpeg's shared libraries): "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc

        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        try:
            self._decoder = VideoDecoder(str(self.path), seek_mode="exact", dimension_order="NCHW", device=device)
        except RuntimeError as exc:  # no GPU, or this FFmpeg build has no NVDEC
            raise OptionsError(f"decoder backend 'torchcodec' cannot decode on {device}: {exc}") from exc
        except ValueError as exc:  # a stream or its metadata torchcodec cannot use
            raise DecodeError(f"{self.path.name}: torchcodec cannot open it: {exc}", code="decode_failed") from exc
        self._turns_upright = hasattr(self._decoder.metadata, "rotation")
        self.device = device
        self.on_device = on_device and device.startswith("cuda")

    def frames(self, indices: Sequence[int], *, size: int | None = None, skip_nonref: bool = True,
               deblock: bool = True, crop: bool = True) -> np.ndarray:
        return np.ascontiguousarray(self.tensors(indices, size=size, crop=crop).cpu().numpy())

    def tensors(self, indices: Sequence[int], *, size: int | None = None, crop: bool = True) -> torch.Tensor:
        """As `frames`, a ``(N, H, W, 3) uint8`` tensor left on the decoder's device, made on the calling
        thread's current CUDA stream (torchcodec converts its frames there): the device loop orders its reads
        after that stream's work, never the host."""
        import torch

        wanted = self._checked(indices)
        if not wanted:
            side = (size, size) if size and crop else (self.info.height, self.info.width) if not size else \
                tuple(reversed(_scaled(self.info.width, self.info.height, size)))
            return torch.empty((0, *side, 3), dtype=torch.uint8, device=self.device)
        targets, rows = np.unique(np.asarray(wanted, dtype=np.int64), return_inverse=True)
        # A slice at a time: whole frames in float (and the resize's own copy) for every target at once would
        # take gigabytes of device memory at HD sizes.
        parts = [self._slice(targets[i : i + self.SLICE].tolist(), size)
                 for i in range(0, len(targets), self.SLICE)]
        frames = (parts[0] if len(parts) == 1 else torch.cat(parts)).permute(0, 2, 3, 1)  # (U, h, w, 3)
        if not self._turns_upright and self.info.rotation:  # np.rot90's turn, as `_upright`
            frames = torch.rot90(frames, k=-(self.info.rotation // 90), dims=(1, 2))
        if size and crop:  # the upright frame's centre
            frames = _centre_crop(frames, size, axes=(1, 2))
        if len(targets) != len(wanted) or (rows != np.arange(len(rows))).any():
            frames = frames[torch.as_tensor(rows, device=frames.device)]
        out: torch.Tensor = frames.contiguous()
        return out

    SLICE = 32  # frames decoded and resized together

    def _slice(self, targets: list[int], size: int | None) -> torch.Tensor:
        """``targets`` decoded, resized so that the shorter side is ``size``: ``(n, 3, h, w) uint8``. torchcodec's
        failures to decode the file (a broken packet, a frame count below the probe's) are this video's
        `DecodeError`, as the isolated decoders' are. The device's own (out of memory, a CUDA error) are not the
        file's: they stay what they are, and the attempt fails as any internal error does (a queue worker's job
        is delivered again)."""
        import torch
        import torch.nn.functional as F

        # torch.cuda.OutOfMemoryError: the name every torch from 2.4 has; AcceleratorError came later.
        device_errors = (torch.cuda.OutOfMemoryError, *((torch.AcceleratorError,)
                                                        if hasattr(torch, "AcceleratorError") else ()))
        try:
            batch = self._decoder.get_frames_at(indices=targets).data  # (n, 3, h, w) uint8
        except device_errors:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            raise DecodeError(f"{self.path.name}: torchcodec failed: {exc}", code="decode_failed") from exc
        if size:
            height, width = batch.shape[-2:]
            new_w, new_h = _scaled(width, height, size)
            batch = F.interpolate(batch.float(), size=(new_h, new_w), mode="bilinear", antialias=True,
                                  align_corners=False).round().clamp(0, 255).to(torch.uint8)
        out: torch.Tensor = batch
        return out

    def close(self) -> None:
        del self._decoder


def _torchcodec_cuda(path: Path, info: VideoInfo | None) -> Decoder:
    return TorchCodecDecoder(path, info, device="cuda")


# Backends of an optional package: name → (the package, which is also its extra's name; the factory).
OPTIONAL_BACKENDS: dict[str, tuple[str, DecoderFactory]] = {
    "decord": ("decord", DecordDecoder),
    "torchcodec": ("torchcodec", TorchCodecDecoder),
    "torchcodec-cuda": ("torchcodec", _torchcodec_cuda),
}
BACKENDS: dict[str, DecoderFactory] = {"pyav": PyAVDecoder} | {
    name: factory for name, (package, factory) in OPTIONAL_BACKENDS.items()
    if importlib.util.find_spec(package) is not None}


def gpu_decoding_works() -> bool:
    """Whether ``torchcodec-cuda`` can decode here: torchcodec loads and a CUDA device answers (imports torch)."""
    if "torchcodec-cuda" not in BACKENDS:
        return False
    try:
        import torch
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return bool(torch.cuda.is_available())


def choose_backend(backend: str, *, device: str = "cpu") -> str:
    """``auto``: GPU decoding (``torchcodec-cuda``) when the model runs on CUDA and it works, else ``pyav``."""
    if backend != "auto":
        return backend
    return "torchcodec-cuda" if device.startswith("cuda") and gpu_decoding_works() else "pyav"


def resolve_backend(backend: str) -> DecoderFactory:
    """A registered name (``pyav``, ``decord``, ``torchcodec``) or an import path ``module:Class``."""
    if backend in BACKENDS:
        return BACKENDS[backend]
    if ":" in backend:
        module, _, attr = backend.partition(":")
        try:
            factory: DecoderFactory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise OptionsError(f"decoder backend {backend!r} cannot be imported: {exc}") from exc
        return factory
    if backend in OPTIONAL_BACKENDS:
        raise OptionsError(f"decoder backend {backend!r} needs the optional package: "
                           f"pip install 'vidgate[{OPTIONAL_BACKENDS[backend][0]}]' (not installed here)")
    raise OptionsError(f"unknown decoder backend {backend!r}; available: {', '.join(sorted(BACKENDS))}")


def open_decoder(path: str | Path, backend: str = "pyav", info: VideoInfo | None = None, *,
                 threads: int = 0) -> Decoder:
    """Open ``path`` with a backend from :data:`BACKENDS` (or an import path ``module:Class``).

    Args:
        path: the video file.
        backend: backend name or ``module:Class``; the class is called as ``Class(path, info)``.
        info: the result of :func:`probe` if already known (else the backend probes).
        threads: codec threads of the ``pyav`` backend (0: FFmpeg's choice); other backends choose their own.
    """
    factory = resolve_backend(backend)
    if factory is PyAVDecoder:
        return PyAVDecoder(Path(path), info, threads=threads)
    return factory(Path(path), info)


def _scaled(width: int, height: int, size: int) -> tuple[int, int]:
    """Output dimensions with the shorter side equal to ``size``, aspect ratio kept."""
    scale = size / min(width, height)
    return max(size, round(width * scale)), max(size, round(height * scale))


@overload
def centre_crop(array: np.ndarray, size: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray: ...
@overload
def centre_crop(array: torch.Tensor, size: int, axes: tuple[int, int] = (0, 1)) -> torch.Tensor: ...
@overload
def centre_crop(array: np.ndarray | torch.Tensor, size: int, axes: tuple[int, int] = (0, 1)
                ) -> np.ndarray | torch.Tensor: ...
def centre_crop(array: np.ndarray | torch.Tensor, size: int, axes: tuple[int, int] = (0, 1)
                ) -> np.ndarray | torch.Tensor:
    """The centre ``size × size`` of frames whose shorter side is ``size`` (what ``crop=True`` returns); host
    arrays and device tensors alike."""
    cropped = _centre_crop(array, size, axes)
    return np.ascontiguousarray(cropped) if isinstance(cropped, np.ndarray) else cropped.contiguous()


def _centre_crop(array: _F, size: int, axes: tuple[int, int] = (0, 1)) -> _F:
    h, w = array.shape[axes[0]], array.shape[axes[1]]
    top, left = (h - size) // 2, (w - size) // 2
    index = [slice(None)] * array.ndim
    index[axes[0]] = slice(top, top + size)
    index[axes[1]] = slice(left, left + size)
    return cast(_F, array[tuple(index)])


def _upright(array: np.ndarray, rotation: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Turn the coded picture ``rotation`` degrees clockwise (np.rot90 turns counter-clockwise)."""
    return np.rot90(array, k=-(rotation // 90), axes=axes) if rotation else array
