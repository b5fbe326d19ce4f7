"""Probing a video file: what it is, decided by its content, and its exact presentation-order frame table.

The frame table comes from demuxing packets (no decoding): every packet's presentation timestamp,
sorted, is one frame; frame ``i`` is the ``i``-th smallest timestamp. That count is exact for B-frames
(decode order ≠ display order) and for variable frame rate, unlike ``duration × fps`` or the
container's declared frame count. Decoders map decoded frames back to indices through the same table.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from ..errors import DecodeError, LimitError, VideoError

# The demuxers FFmpeg may use on an input (its ``format_whitelist``): video containers and raw video
# streams that hold their media inside the file. Formats that reference other files or network
# streams (concat lists, HLS/DASH playlists, SDP, ...) are not on it, nor are image, text and audio
# formats. FFmpeg checks the list after detecting the format and before its demuxer reads anything.
ACCEPTED_DEMUXERS = (
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2",  # the MP4/QuickTime demuxer's names
    "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "asf", "ogg", "nut", "ivf",
    "h264", "hevc", "mpegvideo", "m4v", "obu",  # raw video elementary streams
)
# Nested opens (which none of the accepted demuxers makes by default) may use local files only.
_OPEN_OPTIONS = {"format_whitelist": ",".join(ACCEPTED_DEMUXERS), "protocol_whitelist": "file"}
# Text formats that make a demuxer open other files or URLs; refused by their first bytes, so that
# the error says why (FFmpeg's refusal would read as "not a video").
_REFERENCE_SIGNATURES = (b"ffconcat", b"#extm3u", b"#ext-x-", b"#extinf", b"[playlist]", b"<smil", b"v=0\n",
                         b"v=0\r\n")
_REFERENCE_ANYWHERE = (b"<mpd", b"urn:mpeg:dash")
# Demuxers that open a still image or a text file as a one-"frame" video stream.
_IMAGE_FORMATS = {"image2", "image2pipe", "tty", "lavfi", "txt"}
# (offset, magic) pairs of container formats, used to tell "cut short" from "not a video at all"
# when FFmpeg refuses to open a file.
_CONTAINER_MAGIC = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"wide"), (4, b"free"),  # MP4 / MOV
    (0, b"\x1aE\xdf\xa3"),  # Matroska / WebM (EBML)
    (0, b"FLV"), (0, b"\x00\x00\x01\xba"),  # FLV, MPEG-PS
)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learned about a video.

    Attributes:
        path: the file.
        num_frames: exact number of frames (presentation-order frame table).
        fps: average frame rate, ``num_frames / duration`` for variable frame rate.
        duration: seconds from the first frame's start to the last frame's end.
        width: displayed width, after rotation.
        height: displayed height, after rotation.
        codec: FFmpeg codec name (``h264``, ``hevc``, ``vp9``...).
        rotation: clockwise degrees (0, 90, 180, 270) the coded picture is turned for display.
        keyframes: frame indices of keyframes, ascending (None when unknown).
        table: the frame table (decode order and reference flags too: what the decode cost model reads).
    """

    path: Path
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str
    rotation: int
    keyframes: tuple[int, ...] | None
    table: FrameTable | None = field(default=None, compare=False, repr=False)


def keyframe_before(keyframes: Sequence[int] | np.ndarray | None, index: int) -> int:
    """The last keyframe at or before frame ``index`` (0 when none is known or the stream starts without one).

    The one definition: decoders seek with it, the cost model and the planner reason with it.
    """
    if keyframes is None or len(keyframes) == 0:
        return 0
    k = int(np.searchsorted(np.asarray(keyframes), index, side="right")) - 1
    return int(keyframes[k]) if k >= 0 else 0


@dataclass(frozen=True)
class FrameTable:
    """Presentation-order frame table of one video stream.

    Attributes:
        pts: sorted presentation timestamps, one per frame, in ``time_base`` units ``(N,) int64``.
        keyframes: frame indices of keyframes, ascending ``(K,) int64``.
        time_base: seconds per ``pts`` tick.
        frame_ticks: duration of the last frame in ticks (its packet duration, or the median gap).
        decode_order: position of each frame's packet in the file (decode order) ``(N,) int64``.
        reference: whether each frame may be used to predict others ``(N,) bool``; all True when the
            codec's bitstream is not parsed (only H.264's ``nal_ref_idc`` is read).
    """

    pts: np.ndarray
    keyframes: np.ndarray
    time_base: Fraction
    frame_ticks: int
    decode_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reference: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def num_frames(self) -> int:
        return int(self.pts.shape[0])

    def index_of(self, pts: int | None) -> int | None:
        """The frame index of a decoded frame's timestamp, or None when it is not in the table."""
        if pts is None:
            return None
        i = int(np.searchsorted(self.pts, pts))
        return i if i < self.pts.shape[0] and int(self.pts[i]) == pts else None

    def keyframe_before(self, index: int) -> int:
        """The last keyframe at or before frame ``index`` (0 when the stream starts without one)."""
        return keyframe_before(self.keyframes, index)

    @property
    def duration(self) -> float:
        if not self.num_frames:
            return 0.0
        return float((int(self.pts[-1]) - int(self.pts[0]) + self.frame_ticks) * self.time_base)


def probe(
    path: str | Path,
    *,
    max_file_bytes: int | None = None,
    max_duration: float | None = None,
    max_pixels: int | None = None,
) -> VideoInfo:
    """Inspect a video file by its content (never its extension); refuse anything unusable.

    Args:
        path: the file.
        max_file_bytes: refuse larger files (``file_too_large``) before opening them.
        max_duration: refuse videos longer than this many seconds (``video_too_long``).
        max_pixels: refuse frames with more pixels than this (``video_too_large``).

    Raises:
        VideoError: ``file_missing``, ``not_a_file``, ``empty_file``, ``not_a_video``, ``unsupported_container``,
            ``no_video_stream``, ``unsupported_codec``, ``truncated_video``.
        DecodeError: ``decode_failed`` when the first frame cannot be decoded.
        LimitError: ``file_too_large``, ``video_too_long``, ``video_too_large``.
    """
    path = Path(path)
    size = _check_file(path)
    if max_file_bytes is not None and size > max_file_bytes:
        raise LimitError(f"{path.name}: {size} bytes exceeds the limit of {max_file_bytes}", code="file_too_large")
    container = open_container(path)
    try:
        stream = _video_stream(container, path)
        coded_w, coded_h = stream.codec_context.width, stream.codec_context.height
        if max_pixels is not None and coded_w * coded_h > max_pixels:
            raise LimitError(f"{path.name}: {coded_w}×{coded_h} exceeds the limit of {max_pixels} pixels",
                             code="video_too_large")
        # The header's duration refuses an overlong video before demuxing all of it.
        header = _header_duration(container, stream)
        if max_duration is not None and header is not None and header > max_duration * 1.01 + 1:
            raise LimitError(f"{path.name}: {header:.1f} s exceeds the limit of {max_duration:g} s",
                             code="video_too_long")
        table, packets = read_frame_table(container, stream)
        if table.num_frames == 0:
            raise VideoError(f"{path.name}: the video stream holds no frames (truncated?)", code="truncated_video")
        if stream.frames and packets < stream.frames:
            raise VideoError(f"{path.name}: the file ends after {packets} of {stream.frames} frames",
                             code="truncated_video")
        rotation = _first_frame_rotation(container, stream, table, path)
    finally:
        container.close()
    duration = table.duration
    if max_duration is not None and duration > max_duration:
        raise LimitError(f"{path.name}: {duration:.1f} s exceeds the limit of {max_duration:g} s",
                         code="video_too_long")
    fps = table.num_frames / duration if duration > 0 else float(stream.average_rate or 1)
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    _TABLES.put(path, table)
    return VideoInfo(path=path, num_frames=table.num_frames, fps=fps, duration=duration, width=width,
                     height=height, codec=stream.codec_context.name, rotation=rotation,
                     keyframes=tuple(int(k) for k in table.keyframes), table=table)


def open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading with the demuxer allow-list, mapping FFmpeg's refusals to stable error codes.

    Raises:
        VideoError: ``unsupported_container`` (a list or playlist of other files), ``not_a_video``,
            ``truncated_video``.
    """
    refuse_references(path)
    try:
        return av.open(str(path), mode="r", options=dict(_OPEN_OPTIONS))
    except av.error.FFmpegError as exc:
        if exc.errno == errno.EINVAL:  # detected as a format outside the allow-list
            raise VideoError(f"{path.name}: not a video container vidgate accepts (see docs/decoding.md)",
                             code="not_a_video") from exc
        if _looks_like_container(path):
            raise VideoError(f"{path.name}: a video container that cannot be read to the end "
                             f"(truncated or index missing): {exc.strerror}", code="truncated_video") from exc
        raise VideoError(f"{path.name}: not a video file ({exc.strerror})", code="not_a_video") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path.name}: cannot be opened as a video ({exc})", code="not_a_video") from exc


def read_frame_table(container: av.container.InputContainer, stream: av.video.stream.VideoStream
                     ) -> tuple[FrameTable, int]:
    """Demux every packet of ``stream`` (no decoding); returns the table and the packet count."""
    timestamps: list[int] = []
    keys: list[int] = []
    durations: list[int] = []
    references: list[bool] = []
    is_reference = _reference_parser(stream)
    packets = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at end of stream
                continue
            packets += 1
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or packet.is_discard:
                continue
            timestamps.append(stamp)
            keys.append(bool(packet.is_keyframe))
            durations.append(packet.duration or 0)
            references.append(is_reference(packet))
    except av.error.FFmpegError as exc:
        raise VideoError(f"the video breaks off after {packets} packets: {exc.strerror}",
                         code="truncated_video") from exc
    order = np.argsort(np.asarray(timestamps, dtype=np.int64), kind="stable")
    pts = np.asarray(timestamps, dtype=np.int64)[order]
    pts, first = np.unique(pts, return_index=True)  # a duplicated timestamp is one displayable frame
    is_key = np.asarray(keys, dtype=bool)[order][first]
    last = int(np.asarray(durations, dtype=np.int64)[order][-1]) if durations else 0
    if last <= 0:
        last = int(np.median(np.diff(pts))) if pts.shape[0] > 1 else 1
    time_base = stream.time_base or Fraction(1, 1)
    return FrameTable(pts=pts, keyframes=np.flatnonzero(is_key).astype(np.int64), time_base=time_base,
                      frame_ticks=max(1, last), decode_order=order[first].astype(np.int64),
                      reference=np.asarray(references, dtype=bool)[order][first] | is_key), packets


def _reference_parser(stream: av.video.stream.VideoStream) -> Callable[[av.Packet[Any]], bool]:
    """``packet -> may other frames be predicted from it``, read from the bitstream where we can.

    H.264 says it in every slice's NAL header (``nal_ref_idc == 0``: nothing refers to this picture),
    so skipping such a packet leaves every other frame bit-exact. Other codecs: every frame counts
    as a reference (nothing is skipped).
    """
    extradata = stream.codec_context.extradata
    if stream.codec_context.name != "h264":
        return lambda packet: True
    # avcC (MP4/MKV): NAL units prefixed by their length; otherwise Annex B start codes.
    length_size = (extradata[4] & 3) + 1 if extradata and extradata[0] == 1 and len(extradata) > 4 else 0

    def is_reference(packet: av.Packet[Any]) -> bool:
        data = memoryview(packet)
        for header in _nal_headers(data, length_size):
            if header & 0x1F in (1, 5):  # the first slice (non-IDR or IDR) decides
                return bool(header & 0x60)
        return True

    return is_reference


def _nal_headers(data: memoryview, length_size: int) -> Iterator[int]:
    """The first byte of each NAL unit in one packet."""
    end = len(data)
    if length_size:
        i = 0
        while i + length_size < end:
            size = int.from_bytes(data[i : i + length_size], "big")
            yield data[i + length_size]
            i += length_size + size
        return
    raw = bytes(data[: min(end, 4096)])  # Annex B: headers sit after 00 00 01 start codes
    i = raw.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(raw):
        yield raw[i + 3]
        i = raw.find(b"\x00\x00\x01", i + 3)


def frame_table(path: Path, container: av.container.InputContainer,
                stream: av.video.stream.VideoStream) -> FrameTable:
    """The frame table of ``path``: from :func:`probe`'s cache when the file is unchanged, else demuxed."""
    table = _TABLES.get(path)
    if table is None:
        table, _ = read_frame_table(container, stream)
        _TABLES.put(path, table)
    return table


def display_rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees to turn ``frame`` upright (PyAV reports the display matrix counter-clockwise)."""
    return round(-frame.rotation / 90.0) % 4 * 90


def _check_file(path: Path) -> int:
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise VideoError(f"{path}: no such file", code="file_missing") from exc
    except OSError as exc:
        raise VideoError(f"{path}: cannot be read ({exc.strerror})", code="file_missing") from exc
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file", code="not_a_file")
    if not path.is_file():
        raise VideoError(f"{path}: not a regular file", code="not_a_file")
    if not os.access(path, os.R_OK):
        raise VideoError(f"{path}: not readable", code="file_missing")
    if stat.st_size == 0:
        raise VideoError(f"{path.name}: the file is empty (0 bytes)", code="empty_file")
    return stat.st_size


def refuse_references(path: Path) -> None:
    """Refuse files that make a demuxer open other files or URLs (concat lists, playlists...), by content."""
    with path.open("rb") as f:
        head = f.read(4096)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    markup = start.startswith(b"<") and any(m in start for m in _REFERENCE_ANYWHERE)
    if start.startswith(_REFERENCE_SIGNATURES) or markup:
        raise VideoError(f"{path.name}: a list or playlist that refers to other files, not a video; "
                         "upload the video itself", code="unsupported_container")


def _looks_like_container(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    if any(head[o : o + len(m)] == m for o, m in _CONTAINER_MAGIC):
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"AVI "


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
        raise VideoError(f"{path.name}: not a video file (FFmpeg reads it as {fmt!r})", code="not_a_video")
    if not container.streams.video:
        if container.streams.audio:
            raise VideoError(f"{path.name}: audio only, no video stream", code="no_video_stream")
        raise VideoError(f"{path.name}: no video stream", code="no_video_stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or stream.codec_context.name in ("", "none"):
        raise VideoError(f"{path.name}: video codec not supported (no decoder for it)", code="unsupported_codec")
    return stream


def _header_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _first_frame_rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                          table: FrameTable, path: Path) -> int:
    """Decode the first frame: proves the codec decodes and reads the display matrix."""
    try:
        container.seek(int(table.pts[0]), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            return display_rotation(frame)
    except av.error.DecoderNotFoundError as exc:
        raise VideoError(f"{path.name}: video codec not supported (no decoder)", code="unsupported_codec") from exc
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{path.name}: the first frame cannot be decoded: {exc.strerror}",
                          code="decode_failed") from exc
    raise VideoError(f"{path.name}: no frame could be decoded (truncated?)", code="truncated_video")


class _TableCache:
    """Frame tables of recently probed files, so a decoder opened after :func:`probe` skips the demux pass."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[tuple[str, int, int], FrameTable] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: Path) -> tuple[str, int, int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return str(path.resolve()), stat.st_size, stat.st_mtime_ns

    def get(self, path: Path) -> FrameTable | None:
        key = self._key(path)
        with self._lock:
            if key is None or key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, path: Path, table: FrameTable) -> None:
        key = self._key(path)
        if key is None:
            return
        with self._lock:
            self._items[key] = table
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_TABLES = _TableCache()

