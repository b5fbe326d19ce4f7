"""The only module that reads or writes weight files.

A vidgate checkpoint is one safetensors file: every weight of the model, plus JSON metadata under
the key ``vidgate`` holding the `ModelConfig` (backbones, input sizes, normalisation, snippet
length, class names, kernel count, gate threshold, version) with its ``config_version``, and free-form
training notes. An older config version is migrated at load by an explicit table
(`models.config.CONFIG_MIGRATIONS`), never by `ModelConfig`'s defaults.

It carries a **model card** under ``card`` (`models.card.ModelCard`: training data, recipe, figures,
intended use, limits; the name, classes and calibration stay in the config). `read_card` returns it,
derived from the training notes for a checkpoint written before cards.

It may also carry **concept examples**: for every concept kernel, a few small JPEGs of training
frames that activate it most (what "concept kernel 22" looks like). Their bytes are one ``uint8``
tensor, ``concept_examples.jpeg``, outside the model's weights; the metadata's ``concept_examples``
says where each one is and what it shows. All of them together stay within
`CONCEPT_EXAMPLES_MAX_BYTES`.

**Pretrained weights** (`load_pretrained`) load into a light trunk or heavy network exactly or not at all:
the publisher's classifier is dropped on purpose (`models.published`), every other key must match by name
and shape, and under `PARTIAL_MINIMUM` of the trunk's tensors is refused unless a partial load is asked for.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError

from .card import ModelCard, card_from_metadata, stored_fields
from .config import CONFIG_VERSION
from .extras import MissingExtra

if TYPE_CHECKING:  # torch loads only when weights do: reading metadata stays light (the API process)
    import torch
    from torch import nn

    from .config import ModelConfig
    from .vidgate import VidGate

FORMAT = "vidgate-checkpoint/1"
EXAMPLES_TENSOR = "concept_examples.jpeg"
CONCEPT_EXAMPLES_MAX_BYTES = 512 * 1024  # the size budget of all concept examples of one checkpoint

# One concept example: {"jpeg": bytes, ...JSON-able facts about it (video, time, activation)}.
Example = dict[str, Any]
DEMO_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "vidgate-demo.safetensors"  # see docs/results.md


class CheckpointError(ValueError):
    """A checkpoint or weight file that is missing, corrupt, truncated or does not fit the model."""


def save_checkpoint(
    model: VidGate,
    path: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    concept_examples: list[list[Example]] | None = None,
    card: ModelCard | None = None,
) -> Path:
    """Write weights, config, ``extra`` notes, the model card and (optionally) concept examples to ``path``
    atomically.

    ``concept_examples[k]`` are kernel ``k``'s examples, best first (see `read_concept_examples`). ``card``
    must name the model's own name and classes.
    """
    path = Path(path)
    meta: dict[str, Any] = {"format": FORMAT, "config_version": CONFIG_VERSION,
                            "config": dataclasses.asdict(model.config), "extra": extra or {}}
    if card is not None:
        meta["card"] = _card_metadata(card, meta["config"])
    arrays = {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}
    _write(path, arrays, meta, concept_examples)
    return path


def add_concept_examples(path: str | Path, examples: list[list[Example]]) -> Path:
    """Store (or replace) the concept examples of an existing checkpoint; weights are untouched."""
    from safetensors.numpy import load_file

    path = Path(path)
    meta = read_metadata(path)
    num_kernels = int(meta["config"].get("num_kernels", len(examples)))
    if len(examples) != num_kernels:
        raise CheckpointError(f"{len(examples)} lists of concept examples for {num_kernels} concept kernels")
    arrays = {k: v for k, v in load_file(str(path)).items() if k != EXAMPLES_TENSOR}
    _write(path, arrays, {k: v for k, v in meta.items() if k != "concept_examples"}, examples)
    return path


def read_card(path: str | Path) -> ModelCard:
    """The checkpoint's model card (derived from its config and training notes when it stores none);
    never loads torch."""
    return card_from_metadata(read_metadata(path))


def write_card(path: str | Path, card: ModelCard, *, rename: bool = False) -> Path:
    """Store (or replace) the model card of an existing checkpoint; the weights are untouched (bit-identical).

    ``rename`` also gives the model the card's name (the config's ``name``, which results and URLs show).
    """
    from safetensors.numpy import load_file

    path = Path(path)
    meta = read_metadata(path)
    if rename:
        meta["config"] = {**meta["config"], "name": card.name}
    stored = _card_metadata(card, meta["config"])
    examples = read_all_concept_examples(path)
    arrays = {k: v for k, v in load_file(str(path)).items() if k != EXAMPLES_TENSOR}
    rest = {k: v for k, v in meta.items() if k not in ("card", "concept_examples")}
    _write(path, arrays, {**rest, "card": stored}, examples)
    return path


def _card_metadata(card: ModelCard, config: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint stores of ``card``; refuses a card of another model (name or classes differ)."""
    if card.name != config.get("name") or list(card.classes) != list(config["classes"]):
        raise CheckpointError(f"the model card describes {card.name!r} with classes {list(card.classes)}, "
                              f"the checkpoint holds {config.get('name')!r} with {list(config['classes'])}")
    return stored_fields(card)


def read_all_concept_examples(path: str | Path) -> list[list[Example]] | None:
    """Every kernel's concept examples (None when the checkpoint carries none)."""
    stored = read_metadata(path).get("concept_examples")
    if stored is None:
        return None
    return [read_concept_examples(path, k) or [] for k in range(len(stored["kernels"]))]


def _write(path: Path, arrays: dict[str, Any], meta: dict[str, Any], examples: list[list[Example]] | None) -> None:
    """One safetensors file from numpy arrays and metadata, plus the examples' bytes; atomic."""
    import numpy as np
    from safetensors.numpy import save_file

    if examples is not None:
        blob = bytearray()
        entries: list[list[dict[str, Any]]] = []
        for kernel in examples:
            entries.append([])
            for example in kernel:
                info = {k: v for k, v in example.items() if k != "jpeg"}
                entries[-1].append({**info, "offset": len(blob), "length": len(example["jpeg"])})
                blob += example["jpeg"]
        if len(blob) > CONCEPT_EXAMPLES_MAX_BYTES:
            raise CheckpointError(
                f"concept examples take {len(blob)} bytes, over the budget of {CONCEPT_EXAMPLES_MAX_BYTES}"
            )
        arrays = {**arrays, EXAMPLES_TENSOR: np.frombuffer(bytes(blob) or b"\0", dtype=np.uint8).copy()}
        meta = {**meta, "concept_examples": {"kernels": entries, "bytes": len(blob)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(arrays, str(tmp), metadata={"vidgate": json.dumps(meta)})
    tmp.chmod(0o644)  # a weight file is for reading by whoever serves it
    tmp.replace(path)


def read_concept_examples(path: str | Path, kernel: int) -> list[Example] | None:
    """Kernel ``kernel``'s examples (``{"jpeg": bytes, "video", "time", "activation"}``, best first);
    None when the checkpoint carries no examples. Reads only those bytes, and never loads torch."""
    from safetensors import safe_open

    meta = read_metadata(path)
    stored = meta.get("concept_examples")
    if stored is None:
        return None
    kernels = stored["kernels"]
    if not 0 <= kernel < len(kernels):
        raise IndexError(f"no concept kernel {kernel} (the model has {len(kernels)})")
    out: list[Example] = []
    with safe_open(str(path), framework="numpy") as f:
        blob = f.get_slice(EXAMPLES_TENSOR)
        for entry in kernels[kernel]:
            start, length = int(entry["offset"]), int(entry["length"])
            data = bytes(blob[start : start + length]) if length else b""
            out.append({**{k: v for k, v in entry.items() if k not in ("offset", "length")}, "jpeg": data})
    return out


def read_config(path: str | Path) -> ModelConfig:
    """The checkpoint's `ModelConfig`, migrated from the config version it was written with
    (`models.config.CONFIG_MIGRATIONS`); never loads torch."""
    return _config(read_metadata(path), path)


def _config(meta: dict[str, Any], path: str | Path) -> ModelConfig:
    from .config import config_from_dict

    try:
        return config_from_dict(meta["config"], int(meta.get("config_version", 1)))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON metadata without loading weights."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="numpy") as f:
            raw = (f.metadata() or {}).get("vidgate")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    if raw is None:
        raise CheckpointError(f"{path} is a safetensors file but not a vidgate checkpoint (no 'vidgate' metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path} has corrupt metadata: {exc}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[VidGate, dict[str, Any]]:
    """Rebuild the model exactly from a checkpoint; returns it (in eval mode) and the ``extra`` notes."""
    from safetensors.torch import load_file

    from .vidgate import VidGate

    meta = read_metadata(path)
    config = _config(meta, path)
    try:
        model = VidGate(config)
    except KeyError as exc:
        raise CheckpointError(f"checkpoint {path} names an unknown backbone: {exc.args[0]}") from None
    except (MissingExtra, ValueError) as exc:  # ValueError: a setting no builder knows (e.g. head_pooling)
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    tensors.pop(EXAMPLES_TENSOR, None)  # not a weight
    _load_exact(model, tensors, str(path))
    return model.to(device).eval(), meta.get("extra", {})


def _load_exact(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise CheckpointError(f"checkpoint {source} does not match its model config: " + "; ".join(parts))
    model.load_state_dict(tensors)


PARTIAL_MINIMUM = 0.95  # under this share of a trunk's tensors loaded, `load_pretrained` refuses
_SHOWN = 5  # keys named in a message, of each kind


@dataclasses.dataclass(frozen=True)
class PretrainedLoad:
    """What `load_pretrained` loaded into a trunk.

    Attributes:
        source: the weight file.
        backbone: the registered backbone it was loaded into.
        layout: the layout recognised (``torchvision state dict``, ``pytorchvideo checkpoint (model_state)``,
            ``vidgate checkpoint``...), with the ``module.`` prefix when it was there.
        loaded: tensors of the trunk that came from the file.
        trunk: tensors the trunk has (parameters and buffers).
        dropped: keys of the file left out on purpose: the publisher's classifier, or the rest of a vidgate model.
        unmatched: keys of the file that fit no tensor of the trunk, each with why (``key (not in the trunk)``,
            ``key (shape [..] in the file, [..] in the trunk)``).
        missing: tensors of the trunk the file did not give; they keep their initial values.
    """

    source: str
    backbone: str
    layout: str
    loaded: int
    trunk: int
    dropped: tuple[str, ...]
    unmatched: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def fraction(self) -> float:
        """The share of the trunk's tensors that came from the file."""
        return self.loaded / self.trunk if self.trunk else 0.0

    @property
    def exact(self) -> bool:
        """Every tensor of the trunk loaded, and every key of the file loaded or was dropped on purpose."""
        return not self.missing and not self.unmatched

    def summary(self) -> str:
        """One line for a log: what loaded, from what, and what did not."""
        if self.exact:
            line = f"{self.backbone}: loaded all {self.trunk} trunk tensors from {self.source} ({self.layout})"
        else:
            line = (f"{self.backbone}: loaded {self.loaded} of {self.trunk} trunk tensors ({self.fraction:.0%}) "
                    f"from {self.source} ({self.layout})")
        if self.dropped:
            line += f"; dropped {len(self.dropped)} tensor(s) that are not the trunk: {_some(self.dropped)}"
        if self.missing:
            line += (f"; {len(self.missing)} trunk tensor(s) not in the file keep their initial values: "
                     f"{_some(self.missing)}")
        if self.unmatched:
            line += f"; {len(self.unmatched)} key(s) of the file fit nothing: {_some(self.unmatched)}"
        return line


class WeightsMismatch(CheckpointError):
    """A weight file that does not fit the trunk (under `PARTIAL_MINIMUM` of its tensors); ``load`` says what
    would have loaded."""

    def __init__(self, message: str, load: PretrainedLoad) -> None:
        super().__init__(message)
        self.load = load


def _some(keys: tuple[str, ...] | list[str]) -> str:
    return ", ".join(keys[:_SHOWN]) + (f", … ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def _read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a weight file and the layout they came in; refuses what holds no state dict."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"weight file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as f:
                vidgate = "vidgate" in (f.metadata() or {})
            state = load_file(str(path))
            if vidgate:
                state.pop(EXAMPLES_TENSOR, None)
                return state, "vidgate checkpoint"
            return state, "safetensors state dict"
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a bad file
        raise CheckpointError(f"weight file {path} cannot be read (tensors, numbers, text and containers of them "
                              f"only: weights_only): {exc}") from None
    layout = "state dict"
    for key, name in (("model_state", "pytorchvideo checkpoint (model_state)"), ("state_dict", "{'state_dict': ...}"),
                      ("model", "{'model': ...}")):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw, layout = raw[key], name
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"weight file {path} does not hold a state dict of tensors")
    prefixed = all(k.startswith("module.") for k in raw)
    while all(k.startswith("module.") for k in raw):
        raw = {k.removeprefix("module."): v for k, v in raw.items()}
    return dict(raw), layout + (", DataParallel `module.` prefix" if prefixed else "")


def _namings(state: dict[str, Any], backbone: str, vidgate: bool) -> list[tuple[str, dict[str, str], list[str]]]:
    """Each way the file's keys may name the trunk's: (layout note, {file key: trunk key}, keys dropped on purpose).

    A vidgate checkpoint holds the light trunk under ``light.trunk.`` and the heavy one under ``heavy.net.``;
    a publisher's file holds the whole network (its classifier dropped), with or without the prefix that
    vidgate's trunk adds (`models.published.Published.prefix`).
    """
    from .published import PUBLISHED

    if vidgate:
        out = []
        for role in ("light.trunk.", "heavy.net."):
            names = {k: k.removeprefix(role) for k in state if k.startswith(role)}
            out.append((f", its {role[:-1]}", names, sorted(k for k in state if k not in names)))
        return out
    published = PUBLISHED.get(backbone)
    head = published.head if published else ()
    dropped = sorted(k for k in state if k.startswith(head))
    body = [k for k in state if not k.startswith(head)]
    out = [("", {k: k for k in body}, dropped)]
    if published and published.prefix:
        out.append(("", {k: published.prefix + k for k in body}, dropped))
    return out


def load_pretrained(module: nn.Module, path: str | Path, *, backbone: str,
                    allow_partial: bool = False) -> PretrainedLoad:
    """Load weights a user downloaded (torchvision, pytorchvideo, or a vidgate checkpoint's trunk) into a trunk.

    ``module`` is ``model.light.trunk`` or ``model.heavy.net``; ``backbone`` its registered name, which says
    which keys are the publisher's classifier (`models.published.PUBLISHED`; dropped on purpose: vidgate's
    head replaces it). Every other key must match a trunk tensor by name and shape. Accepted files: a state
    dict (``.pth``, ``.pt``, ``.safetensors``), one nested under ``model_state`` (pytorchvideo's ``.pyth``),
    ``state_dict`` or ``model``, keys with DataParallel's ``module.`` prefix, and vidgate checkpoints. Files
    without BatchNorm's ``num_batches_tracked`` counters get 0 for them, as torch gives older files.

    Returns:
        What loaded (`PretrainedLoad`; its ``summary()`` is a line for the log).

    Raises:
        WeightsMismatch: under `PARTIAL_MINIMUM` of the trunk's tensors would load (``allow_partial`` loads them
            anyway, unless none fits); the message names the unmatched keys.
        CheckpointError: a file that is missing, unreadable or holds no state dict.
    """
    import torch

    path = Path(path)
    state, layout = _read_state_dict(path)
    expected = module.state_dict()
    best: tuple[int, str, dict[str, str], list[str]] | None = None
    for note, names, dropped in _namings(state, backbone, layout == "vidgate checkpoint"):
        fits = sum(1 for k, t in names.items() if t in expected and expected[t].shape == state[k].shape)
        if best is None or fits > best[0]:
            best = (fits, note, names, dropped)
    assert best is not None
    _, note, names, dropped = best
    loaded = {t: state[k] for k, t in names.items() if t in expected and expected[t].shape == state[k].shape}
    unmatched = [f"{k} (not in the trunk)" if t not in expected else
                 f"{k} (shape {list(state[k].shape)} in the file, {list(expected[t].shape)} in the trunk)"
                 for k, t in names.items() if t not in loaded]
    counter = "num_batches_tracked"  # BatchNorm's step count: older files lack it, torch then starts it at 0
    if not any(k.endswith(counter) for k in state):
        for key in expected:
            if key.endswith(counter) and key.removesuffix(counter) + "running_mean" in loaded:
                loaded[key] = torch.zeros_like(expected[key])
    report = PretrainedLoad(source=str(path), backbone=backbone, layout=layout + note, loaded=len(loaded),
                            trunk=len(expected), dropped=tuple(dropped), unmatched=tuple(unmatched),
                            missing=tuple(sorted(set(expected) - set(loaded))))
    if not loaded or (report.fraction < PARTIAL_MINIMUM and not allow_partial):
        raise WeightsMismatch(_mismatch(report, allow_partial), report)
    module.load_state_dict(loaded, strict=False)
    return report


def _mismatch(report: PretrainedLoad, allow_partial: bool) -> str:
    from .published import PUBLISHED

    published = PUBLISHED.get(report.backbone)
    message = (f"weight file {report.source} ({report.layout}) does not fit backbone {report.backbone!r}: "
               f"{report.loaded} of its {report.trunk} tensors match by name and shape ({report.fraction:.0%}, under "
               f"{PARTIAL_MINIMUM:.0%})")
    if report.unmatched:
        message += f"; {len(report.unmatched)} key(s) of the file fit nothing: {_some(report.unmatched)}"
    if report.missing:
        message += f"; {len(report.missing)} trunk tensor(s) are not in the file: {_some(report.missing)}"
    if published:
        message += f". Its published weights: {', '.join(published.files)} (docs/models.md, 'Pretrained weights')"
    if not allow_partial and report.loaded:
        message += "; a deliberate partial load needs allow_partial"
    return message
