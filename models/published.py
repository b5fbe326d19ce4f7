"""Which published weight file fits which registered backbone, how its keys map onto vidgate's trunk,
and the preprocessing its publisher trained with.

Pure data, like torchvision's weight enums: no I/O and no torch. `models.checkpoint.load_pretrained`
reads ``head`` (the publisher's classifier keys, dropped on purpose: vidgate's head replaces them) and
``prefix`` (what vidgate's trunk puts before the publisher's keys); docs/models.md's table is
`published_table()` (``python -m models.published``; a test keeps the page in step).

Sources: torchvision's weight enums (``weights.url``, ``weights.transforms()``, ``meta["_docs"]``) and
the PyTorch Hub pages of pytorchvideo's X3D and Slow R50 (``model_transform_params``, 30 fps input).
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)  # torchvision's video models
KINETICS_STD = (0.22803, 0.22145, 0.216989)
PYTORCHVIDEO_MEAN = (0.45, 0.45, 0.45)
PYTORCHVIDEO_STD = (0.225, 0.225, 0.225)

TORCHVISION_FILE = "state dict (`torch.save(model.state_dict())`)"
PYTORCHVIDEO_FILE = "`.pyth`: `{\"model_state\": state dict, ...}`"


@dataclass(frozen=True)
class Published:
    """The weights a backbone's publisher ships.

    Attributes:
        publisher: who ships them (``torchvision``, ``pytorchvideo``; ``vidgate`` for its own small trunks,
            whose weights come from a vidgate checkpoint).
        files: the published file names.
        trained_on: the data set they were trained on.
        layout: how the file holds the state dict.
        head: key prefixes of the publisher's classifier, in the publisher's naming: not part of the trunk.
        prefix: what vidgate's trunk puts before every publisher key (pytorchvideo nets are wrapped once).
        mean: per-channel normalisation mean of the publisher's preprocessing (None for vidgate's own trunks:
            their checkpoint's config records it, with the sizes).
        std: per-channel normalisation std.
        resize: the resize before the centre crop.
        crop: the centre crop.
        frames: frames per clip and how they were sampled.
    """

    publisher: str
    files: tuple[str, ...]
    trained_on: str
    layout: str
    head: tuple[str, ...]
    prefix: str = ""
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    resize: str = ""
    crop: str = ""
    frames: str = ""


def _imagenet(files: tuple[str, ...], head: str, *, resize: str = "256") -> Published:
    return Published("torchvision", files, "ImageNet-1k", TORCHVISION_FILE, (head,), mean=IMAGENET_MEAN,
                     std=IMAGENET_STD, resize=resize, crop="224", frames="1 (an image)")


def _kinetics(file: str, head: str = "fc.", *, resize: str = "128×171", crop: str = "112",
              frames: str = "16 consecutive at 15 fps") -> Published:
    return Published("torchvision", (file,), "Kinetics-400", TORCHVISION_FILE, (head,), mean=KINETICS_MEAN,
                     std=KINETICS_STD, resize=resize, crop=crop, frames=frames)


def _pytorchvideo(file: str, side: int, frames: str) -> Published:
    return Published("pytorchvideo", (file,), "Kinetics-400", PYTORCHVIDEO_FILE, ("blocks.5.proj.",), prefix="net.",
                     mean=PYTORCHVIDEO_MEAN, std=PYTORCHVIDEO_STD, resize=f"{side} (shorter side)", crop=str(side),
                     frames=frames)


def _vidgate(role: str) -> Published:
    return Published("vidgate", ("a vidgate checkpoint (`.safetensors`)",), "your data (`vidgate train`)",
                     f"the checkpoint's `{role}.` tensors", ())


PUBLISHED: dict[str, Published] = {
    # light encoders (a 2D trunk)
    "mobilenet_v3_small": _imagenet(("mobilenet_v3_small-047dcff4.pth",), "classifier."),
    "mobilenet_v3_large": _imagenet(("mobilenet_v3_large-8738ca79.pth", "mobilenet_v3_large-5c1a4163.pth"),
                                    "classifier.", resize="256 (`8738ca79`, V1), 232 (`5c1a4163`, V2)"),
    "resnet18": _imagenet(("resnet18-f37072fd.pth",), "fc."),
    "tiny2d": _vidgate("light.trunk"),
    # heavy backbones (a 3D network)
    "r3d_18": _kinetics("r3d_18-b3b3357e.pth"),
    "mc3_18": _kinetics("mc3_18-a90a0ba3.pth"),
    "r2plus1d_18": _kinetics("r2plus1d_18-91a641e6.pth"),
    "s3d": _kinetics("s3d-d76dad2f.pth", "classifier.", resize="256×256", crop="224",
                     frames="128 consecutive at 15 fps (at least 14)"),
    "x3d_xs": _pytorchvideo("X3D_XS.pyth", 182, "4, every 12th of 30 fps"),
    "x3d_s": _pytorchvideo("X3D_S.pyth", 182, "13, every 6th of 30 fps"),
    "x3d_m": _pytorchvideo("X3D_M.pyth", 256, "16, every 5th of 30 fps"),
    "slow_r50": _pytorchvideo("SLOW_8x8_R50.pyth", 256, "8, every 8th of 30 fps"),
    "tiny3d": _vidgate("heavy.net"),
}


def published_table() -> str:
    """The markdown table of docs/models.md ("Pretrained weights"): one row per registered backbone."""

    def numbers(values: tuple[float, ...]) -> str:
        return ", ".join(f"{v:g}" for v in values)

    rows = ["| backbone | publisher: file | trained on | file layout | dropped (the publisher's classifier) "
            "| mean | std | resize → crop | frames |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, p in PUBLISHED.items():
        files = ", ".join(f if f.startswith("a ") else f"`{f}`" for f in p.files)
        head = ", ".join(f"`{h}*`" for h in p.head) or "—"
        if p.mean is None or p.std is None:  # vidgate's own trunks: the checkpoint records their preprocessing
            preprocessing = "the checkpoint's (its `ModelConfig`) | | | |"
        else:
            preprocessing = f"{numbers(p.mean)} | {numbers(p.std)} | {p.resize} → {p.crop} | {p.frames} |"
        rows.append(f"| `{name}` | {p.publisher}: {files} | {p.trained_on} | {p.layout} | {head} | {preprocessing}")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(published_table(), end="")
