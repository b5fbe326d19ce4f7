"""Video decoding: probe a file, then decode only the frames asked for, optionally in an isolated child.

    info = probe(path, max_duration=3600)
    with open_decoder(path, "pyav", info=info) as decoder:
        centres = decoder.frames([12, 36, 60], size=112)  # (3, 112, 112, 3) uint8

See docs/decoding.md for the backends, exactness and the measurements behind the default.
"""

from .backends import (
    BACKENDS,
    Decoder,
    DecordDecoder,
    PyAVDecoder,
    TorchCodecDecoder,
    open_decoder,
    resolve_backend,
)
from .isolation import IsolatedDecoder, probe_isolated
from .probe import FrameTable, VideoInfo, probe

__all__ = [
    "BACKENDS",
    "Decoder",
    "DecordDecoder",
    "FrameTable",
    "IsolatedDecoder",
    "PyAVDecoder",
    "TorchCodecDecoder",
    "VideoInfo",
    "open_decoder",
    "probe",
    "probe_isolated",
    "resolve_backend",
]
