"""The one exception family for bad input.

Every error a user can cause carries a stable ``code`` (part of the public interface: the CLI
prints it, the API maps it to an HTTP status and returns it as JSON, batch records store it).
"""

from __future__ import annotations


class VidgateError(Exception):
    """Base class: a problem with the input or options, not a bug."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class VideoError(VidgateError):
    """A video file that cannot be used (missing, empty, not a video, too big, undecodable)."""

    code = "not_a_video"


class DecodeError(VideoError):
    """Decoding failed, hung or crashed part-way through."""

    code = "decode_failed"


class LimitError(VideoError):
    """The video is valid but exceeds a configured limit (size, duration, resolution)."""

    code = "video_too_large"


class OptionsError(VidgateError):
    """Invalid call options (budget, top-k, mode...)."""

    code = "bad_options"


class DatasetError(VidgateError):
    """A data set folder with one or more problems; ``problems`` lists every one of them."""

    code = "bad_dataset"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = f"{len(problems)} problem(s) in data set"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in problems))


class ModelError(VidgateError):
    """A checkpoint that is missing, corrupt or does not match the model."""

    code = "bad_checkpoint"


# Every code, with its HTTP status and CLI exit code, is listed once in service/errors.py (docs/errors.md).


class Cancelled(Exception):
    """Raised inside a recognition when its caller asked to stop (not an error of the input)."""
