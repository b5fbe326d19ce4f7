"""Hostile and broken files: each is refused with a stable error code (tests and bench/reliability.py).

Every builder writes a small file; nothing is downloaded. The expected code is the contract: what the
probe (and the API's intake, as an HTTP 4xx) answers for it.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipelines.encoding import write_video

from ..helpers import moving_square_frames, write_audio_only, write_huge_frame_video


@dataclass(frozen=True)
class Hostile:
    """One bad file: its name, what it is, and the error code it must get."""

    name: str
    what: str
    code: str
    path: Path


def _video(path: Path, frames: int = 24) -> Path:
    write_video(path, moving_square_frames(frames, (64, 64)), fps=12, gop=12)
    return path


def _image(path: Path, fmt: str) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 120, dtype=np.uint8)).save(buffer, format=fmt)
    path.write_bytes(buffer.getvalue())
    return path


def _wav(path: Path) -> Path:
    samples = (np.sin(np.linspace(0, 200, 8000)) * 2000).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(samples))
    path.write_bytes(header + samples)
    return path


def _long_gap_video(path: Path, seconds: float) -> Path:
    """Two frames ``seconds`` apart: a video that claims to be that long, in a few KB."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, pts in enumerate((0, int(seconds * 1000))):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _empty_stream_video(path: Path) -> Path:
    """An MP4 with a video stream and no frames at all."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
    return path


def _corrupt_start(source: Path, path: Path) -> Path:
    """A real MP4 whose first frames' data is overwritten with noise (header intact)."""
    data = bytearray(source.read_bytes())
    start = data.find(b"mdat") + 8
    rng = np.random.default_rng(0)
    data[start : start + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def write_hostile_files(folder: Path) -> list[Hostile]:
    """Write every hostile file into ``folder``; returns them with the code each must get."""
    folder.mkdir(parents=True, exist_ok=True)
    good = _video(folder / "_good.mp4")
    data = good.read_bytes()
    rng = np.random.default_rng(1)
    text: dict[str, tuple[str, str, bytes]] = {
        # name: (what, code, content)
        "self_concat.mp4": ("ffconcat list that includes itself (the 34-byte file-handle bomb)",
                            "unsupported_container", b"ffconcat version 1.0\nfile 'input'\n"),
        "concat_passwd.mp4": ("ffconcat list pointing at /etc/passwd", "unsupported_container",
                              b"ffconcat version 1.0\nfile '/etc/passwd'\n"),
        "concat_plain.txt": ("concat list without its header line", "not_a_video", b"file 'a.mp4'\nfile 'b.mp4'\n"),
        "playlist.m3u8": ("HLS playlist of local files", "unsupported_container",
                          b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"),
        "remote.m3u8": ("HLS playlist of remote segments", "unsupported_container",
                        b"#EXTM3U\n#EXTINF:10,\nhttp://169.254.169.254/latest/meta-data\n"),
        "manifest.mpd": ("DASH manifest", "unsupported_container",
                         b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
                         b'<Period><AdaptationSet><Representation><BaseURL>file:///etc/passwd</BaseURL>'
                         b"</Representation></AdaptationSet></Period></MPD>\n"),
        "stream.sdp": ("SDP session description (opens network streams)", "unsupported_container",
                       b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n"),
        "list.pls": ("PLS playlist", "unsupported_container", b"[playlist]\nFile1=/etc/passwd\nNumberOfEntries=1\n"),
        "smil.smil": ("SMIL presentation", "unsupported_container",
                      b'<smil><body><video src="file:///etc/passwd"/></body></smil>\n'),
        "notes.mp4": ("plain text named .mp4", "not_a_video", b"definitely not a video\n" * 100),
        "one_byte.mp4": ("a single byte", "not_a_video", b"\x00"),
        "zeros.mp4": ("64 KB of zero bytes", "not_a_video", bytes(65536)),
        "random.bin": ("64 KB of random bytes", "not_a_video", rng.integers(0, 256, 65536, dtype=np.uint8).tobytes()),
        "page.html": ("an HTML page", "not_a_video", b"<!doctype html><html><body><video src=x></video></body></html>"),
        "data.json": ("JSON", "not_a_video", b'{"video": "file:///etc/passwd"}\n'),
        "doc.pdf": ("PDF header and junk", "not_a_video", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n" * 50),
        "archive.zip": ("ZIP header and junk", "not_a_video", b"PK\x03\x04" + bytes(200)),
        "utf16.txt": ("UTF-16 text", "not_a_video", "vidéo 视频 🎬\n".encode("utf-16") * 40),
        "subtitles.srt": ("SubRip subtitles", "not_a_video", b"1\n00:00:01,000 --> 00:00:02,000\nhello\n\n" * 20),
        "ffmetadata.txt": ("FFmpeg metadata file", "not_a_video", b";FFMETADATA1\ntitle=x\n"),
        "image.svg": ("SVG (XML) image", "not_a_video",
                      b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'),
        "webm_header.webm": ("EBML magic and nothing after it", "truncated_video", b"\x1aE\xdf\xa3" + bytes(60)),
        "avi_header.avi": ("RIFF AVI header only", "truncated_video", b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(64)),
        "mp4_head.mp4": ("the first 64 bytes of an MP4", "truncated_video", data[:64]),
    }
    out = []
    for name, (what, code, content) in text.items():
        # Stored as the API stores uploads (``.../input``), so a list that names ``input`` names itself.
        path = folder / name.replace(".", "_") / "input"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        out.append(Hostile(name, what, code, path))
    makers: dict[str, tuple[str, str, Callable[[Path], Path]]] = {
        "empty.mp4": ("zero bytes", "empty_file", lambda p: (p.write_bytes(b""), p)[1]),
        "half.mp4": ("the first half of an MP4 (index lost)", "truncated_video",
                     lambda p: (p.write_bytes(data[: len(data) // 2]), p)[1]),
        "voice.m4a": ("AAC audio in MP4, no video stream", "no_video_stream", write_audio_only),
        "tone.wav": ("WAV audio", "not_a_video", _wav),
        "picture.png": ("PNG image", "not_a_video", lambda p: _image(p, "PNG")),
        "picture.jpg": ("JPEG image", "not_a_video", lambda p: _image(p, "JPEG")),
        "picture.gif": ("GIF image", "not_a_video", lambda p: _image(p, "GIF")),
        "picture.bmp": ("BMP image", "not_a_video", lambda p: _image(p, "BMP")),
        "program.elf": ("an executable", "not_a_video",
                        lambda p: (p.write_bytes(Path(shutil.which("ls") or "/bin/ls").read_bytes()[:8192]), p)[1]),
        "no_frames.mp4": ("MP4 with a video stream and no frames", "no_video_stream", _empty_stream_video),
        "huge_frame.mp4": ("4096×2304 frames (over the pixel limit)", "video_too_large", write_huge_frame_video),
        "five_hours.mp4": ("two frames five hours apart (over the duration limit)", "video_too_long",
                           lambda p: _long_gap_video(p, 5 * 3600.0)),
        "corrupt_start.mp4": ("MP4 with noise over its first frames", "decode_failed",
                              lambda p: _corrupt_start(good, p)),
    }
    for name, (what, code, make) in makers.items():
        make(folder / name)
        out.append(Hostile(name, what, code, folder / name))
    os.unlink(good)
    return out
