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
    centre_crop,
    choose_backend,
    gpu_decoding_works,
    open_decoder,
    resolve_backend,
)
from .cost import DecodeCost
from .isolation import DecoderPool, IsolatedDecoder, probe_isolated
from .probe import FrameTable, VideoInfo, keyframe_before, probe
from .timeline import frame_times

__all__ = [
    "BACKENDS",
    "DecodeCost",
    "Decoder",
    "DecoderPool",
    "DecordDecoder",
    "FrameTable",
    "IsolatedDecoder",
    "PyAVDecoder",
    "TorchCodecDecoder",
    "VideoInfo",
    "centre_crop",
    "choose_backend",
    "frame_times",
    "gpu_decoding_works",
    "keyframe_before",
    "open_decoder",
    "probe",
    "probe_isolated",
    "resolve_backend",
]
