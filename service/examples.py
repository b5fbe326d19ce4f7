"""Example videos: a few short videos of the demo model's own benchmark, shipped with their truth.

They let a newcomer see the gate find the events on data the model knows (``vidgate example``, the
viewer's "try an example" button, ``POST /v1/examples/{name}``). ``python -m bench.demo --examples``
writes them (`write_manifest`): test-split videos of the benchmark the demo model was trained on,
generated again by `pipelines.synth.write_videos` from the benchmark's seed.

``models/examples/examples.json`` lists them. The API reads only that list: a job of an example
names it in its input (``{"example": name}``, no upload), and the worker, like for any job, is the
process that opens the video (`job_video`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipelines.errors import OptionsError

from .storage import Storage

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "models" / "examples"
MANIFEST = "examples.json"


class UnknownExample(OptionsError):
    """An example name that is not shipped (the API answers 404 ``not_found``)."""


@dataclass(frozen=True)
class TrueEvent:
    """One event the video really shows: seconds ``[start, end)`` and what it is."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Example:
    """A shipped example video and its truth.

    Attributes:
        name: what the CLI and the API call it.
        file: the video's file name in the examples folder.
        label: its true activity label (a class of the demo model).
        events: the events that make it that activity, in time order.
        duration: seconds.
        size: bytes.
        source: where it comes from (the generator's parameters and the video's index in its data set).
    """

    name: str
    file: str
    label: str
    events: tuple[TrueEvent, ...]
    duration: float
    size: int
    source: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["events"] = [asdict(e) for e in self.events]
        return out

    def truth(self) -> dict[str, Any]:
        """What a job of this example carries: the true label and events (the viewer draws them)."""
        return {"label": self.label, "events": [asdict(e) for e in self.events]}


def write_manifest(folder: Path, examples: list[Example]) -> Path:
    path = folder / MANIFEST
    path.write_text(json.dumps({"examples": [e.to_dict() for e in examples]}, indent=1) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=4)
def load_examples(folder: Path = EXAMPLES_DIR) -> tuple[Example, ...]:
    """The examples listed in ``folder``'s manifest (none when it has no manifest)."""
    path = folder / MANIFEST
    if not path.is_file():
        return ()
    raw = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Example(**{**e, "events": tuple(TrueEvent(**t) for t in e["events"])}) for e in raw["examples"]
    )


def examples_for(classes: tuple[str, ...] | list[str], folder: Path = EXAMPLES_DIR) -> tuple[Example, ...]:
    """The examples whose true label is a class of the model: those its labels can be checked against."""
    return tuple(e for e in load_examples(folder) if e.label in set(classes))


def find_example(name: str, folder: Path = EXAMPLES_DIR) -> Example:
    for example in load_examples(folder):
        if example.name == name:
            return example
    known = ", ".join(e.name for e in load_examples(folder)) or "none are installed"
    raise UnknownExample(f"no example {name!r} (known: {known})")


def job_input(example: Example) -> dict[str, Any]:
    """A job's ``input`` for an example: no storage key, the example's name and its truth."""
    return {"filename": example.file, "size": example.size, "sha256": None, "duration": example.duration,
            "example": example.name, "truth": example.truth()}


@contextlib.contextmanager
def job_video(storage: Storage, source: dict[str, Any]) -> Iterator[Path]:
    """The local path of a job's video: its upload in storage, or the shipped example it names."""
    if source.get("example"):
        yield EXAMPLES_DIR / find_example(str(source["example"])).file
        return
    with storage.local_path(source["key"]) as path:
        yield path
