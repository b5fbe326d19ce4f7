"""Rendering one synthetic video: where its events go, the frames, and their H.264 encoding."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from .classes import COLOURS, SPILL, ActivityClass, Event, SynthConfig


# ------------------------------------------------------------------------------------- video plan
@dataclass(frozen=True)
class Placed:
    event: Event
    snippet: int
    first: int  # first frame (inclusive)
    last: int  # last frame (exclusive)
    activity: str  # the class the event belongs to


@dataclass(frozen=True)
class VideoPlan:
    index: int
    labels: tuple[int, ...]
    split: str
    num_snippets: int


def place_events(activities: tuple[ActivityClass, ...], num_snippets: int, config: SynthConfig,
                  rng: np.random.Generator) -> list[Placed]:
    """Every event of the video's activities at its own snippet, in random order except for order classes.

    Snippets are non-adjacent, so each relevant snippet holds exactly one event; the events of an
    order class happen in the class's order, each at least ``gap_snippets`` after the one before.
    """
    events = [e for a in activities for e in a.events]
    owners = [a.name for a in activities for _ in a.events]
    chains: list[list[int]] = []  # event indices that must happen in this order, far apart
    start = 0
    for a in activities:
        if a.ordered:
            chains.append(list(range(start, start + len(a.events))))
        start += len(a.events)
    for _ in range(100_000):
        chosen = np.sort(rng.choice(num_snippets, size=len(events), replace=False))
        if not np.all(np.diff(chosen) >= 2):
            continue
        order = rng.permutation(len(events))
        position = {int(e): int(snippet) for snippet, e in zip(chosen, order, strict=True)}
        gaps = [position[b] - position[a] for chain in chains for a, b in itertools.pairwise(chain)]
        if all(gap >= config.gap_snippets for gap in gaps):
            break
    else:
        raise RuntimeError(f"cannot place {len(events)} events in {num_snippets} snippets with the required gaps")
    total = num_snippets * config.snippet_frames
    placed = []
    for snippet, e in zip(chosen, order, strict=True):
        start = int(snippet) * config.snippet_frames
        first = max(0, start - int(rng.integers(0, SPILL + 1)))
        last = min(total, start + config.snippet_frames + int(rng.integers(0, SPILL + 1)))
        placed.append(Placed(events[int(e)], int(snippet), first, last, owners[int(e)]))
    return placed


# ---------------------------------------------------------------------------------------- drawing
def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A periodic, smooth, low-saturation texture ``(S, S, 3) float32`` (periodic so it can drift)."""
    noise = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    cutoff = rng.uniform(0.03, 0.09)
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.exp(-((radius / cutoff) ** 2))))
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6)  # (S, S)
    base = rng.uniform(55, 120)
    tint = rng.uniform(-12, 12, size=3)
    contrast = rng.uniform(14, 28)
    image: np.ndarray = (base + tint[None, None, :] + contrast * smooth[:, :, None]).astype(np.float32)  # (S, S, 3)
    return image


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    corners = 4 if shape == "square" else 3
    offset = math.pi / 4 if shape == "square" else -math.pi / 2
    return [(cx + r * math.cos(offset + angle + 2 * math.pi * k / corners),
             cy + r * math.sin(offset + angle + 2 * math.pi * k / corners)) for k in range(corners)]


def _draw_event(draw: ImageDraw.ImageDraw, event: Event, cx: float, cy: float, r: float, angle: float,
                outline: int) -> None:
    colour = COLOURS[event.colour]
    if event.shape == "disc":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=(255, 255, 255), width=outline)
        # A dark radius shows the disc's rotation.
        draw.line((cx, cy, cx + 0.85 * r * math.cos(angle), cy + 0.85 * r * math.sin(angle)),
                  fill=(20, 20, 20), width=max(2, outline))
    else:
        r = r * 1.25 if event.shape == "triangle" else r  # about the area of the other shapes
        draw.polygon(_polygon(event.shape, cx, cy, r, angle), fill=colour, outline=(255, 255, 255), width=outline)


@dataclass
class _Distractor:
    kind: str
    grey: tuple[int, int, int]
    r: float
    x: float
    y: float
    vx: float
    vy: float


def _draw_distractor(draw: ImageDraw.ImageDraw, d: _Distractor) -> None:
    x, y, r = d.x, d.y, d.r
    if d.kind == "ring":
        draw.ellipse((x - r, y - r, x + r, y + r), outline=d.grey, width=max(1, int(r / 3)))
    elif d.kind == "cross":
        w = max(1, int(r / 2.5))
        draw.line((x - r, y, x + r, y), fill=d.grey, width=w)
        draw.line((x, y - r, x, y + r), fill=d.grey, width=w)
    elif d.kind == "bar":
        draw.rectangle((x - r, y - r / 3, x + r, y + r / 3), fill=d.grey)
    else:
        draw.rectangle((x - r * 0.7, y - r * 0.7, x + r * 0.7, y + r * 0.7), fill=d.grey)


def render_frames(plan: VideoPlan, placed: list[Placed], config: SynthConfig) -> Iterator[np.ndarray]:
    """Yield the video's frames ``(S, S, 3) uint8``; every draw comes from the video's own generator."""
    rng = np.random.default_rng([config.seed, 1, plan.index])
    s = config.size
    total = plan.num_snippets * config.snippet_frames
    texture = _texture(s, rng)
    drift = rng.uniform(-0.8, 0.8, size=2)
    noise_pool = (rng.standard_normal((8, s, s, 3)) * config.noise).astype(np.float32)  # (8, S, S, 3)
    flicker = rng.normal(0, 2.5, size=total).astype(np.float32)
    distractors = []
    for _ in range(int(rng.integers(1, config.max_distractors + 1))):
        r, g, b = (int(v) for v in np.clip(rng.integers(90, 190) + rng.integers(-10, 11, size=3), 0, 255))
        distractors.append(_Distractor(
            kind=str(rng.choice(["ring", "cross", "bar", "block"])), grey=(r, g, b),
            r=float(rng.uniform(0.04, 0.07) * s), x=float(rng.uniform(0, s)), y=float(rng.uniform(0, s)),
            vx=float(rng.uniform(-1, 1) * 0.02 * s), vy=float(rng.uniform(-1, 1) * 0.02 * s)))
    radius = 0.11 * s
    speed = 0.03 * s  # px per frame, slower for long events so that the whole path stays in the frame
    spin = math.radians(7.0)  # per frame; well below a square's 45° ambiguity
    outline = max(1, round(s / 56))
    poses = []
    for p in placed:
        n = p.last - p.first
        room = 0.45 * s - (1.25 * radius + outline + 2)  # the most a path may travel each way from its middle
        v = speed if speed * (n - 1) / 2 <= room else 2 * room / max(1, n - 1)
        travel = v * (n - 1) / 2 if p.event.motion in ("left", "right", "up", "down") else 0.0
        margin = 1.25 * radius + outline + travel + 2
        # The pose at the event's middle is drawn independently of the direction, so one frame cannot tell.
        poses.append((float(rng.uniform(margin, s - margin)), float(rng.uniform(margin, s - margin)),
                      float(rng.uniform(0, 2 * math.pi)), v))
    for t in range(total):
        oy, ox = int(t * drift[0]) % s, int(t * drift[1]) % s
        frame = np.roll(texture, (oy, ox), axis=(0, 1)) + noise_pool[int(rng.integers(8))] + flicker[t]
        image = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for d in distractors:
            d.x, d.y = d.x + d.vx, d.y + d.vy
            if not 0 <= d.x < s:
                d.vx, d.x = -d.vx, float(np.clip(d.x, 0, s - 1))
            if not 0 <= d.y < s:
                d.vy, d.y = -d.vy, float(np.clip(d.y, 0, s - 1))
            if rng.random() < 0.01:  # the occasional change of course, so distractor motion is not a tell
                d.vx, d.vy = float(rng.uniform(-1, 1) * 0.02 * s), float(rng.uniform(-1, 1) * 0.02 * s)
            _draw_distractor(draw, d)
        for p, (cx, cy, angle, v) in zip(placed, poses, strict=True):
            if not p.first <= t < p.last:
                continue
            u = t - (p.first + p.last - 1) / 2  # frames from the event's middle
            dx, dy, da = {"left": (-v * u, 0, 0), "right": (v * u, 0, 0), "up": (0, -v * u, 0),
                          "down": (0, v * u, 0), "cw": (0, 0, spin * u), "ccw": (0, 0, -spin * u)}[p.event.motion]
            _draw_event(draw, p.event, cx + dx, cy + dy, radius, angle + da, outline)
        yield np.asarray(image)


def _yuv420p(rgb: np.ndarray) -> np.ndarray:
    """RGB ``(H, W, 3) uint8`` to planar YUV 4:2:0 ``(3H/2, W) uint8`` (BT.601, limited range)."""
    f = rgb.astype(np.float32)
    h, w = f.shape[:2]
    y = 16 + f @ np.array([65.481, 128.553, 24.966], np.float32) / 255  # (H, W)
    # Chroma is linear in RGB, so average each 2×2 block first (slices are much faster than a reduce).
    quad = (f[0::2, 0::2] + f[1::2, 0::2] + f[0::2, 1::2] + f[1::2, 1::2]) / 4  # (H/2, W/2, 3)
    cb = 128 + quad @ np.array([-37.797, -74.203, 112.0], np.float32) / 255  # (H/2, W/2)
    cr = 128 + quad @ np.array([112.0, -93.786, -18.214], np.float32) / 255
    planes = np.concatenate([y.ravel(), cb.ravel(), cr.ravel()])
    yuv: np.ndarray = np.clip(np.rint(planes), 0, 255).astype(np.uint8).reshape(h * 3 // 2, w)
    return yuv


def write_h264(path: Path, frames: Iterator[np.ndarray], *, fps: float, crf: int) -> int:
    """Encode frames as H.264 in MP4; returns the number of frames.

    A writer of its own so that the data set's bytes depend on nothing but the config: one x264
    thread per process (the output does not depend on ``workers`` or the machine's cores, and
    ``workers`` processes use that many cores), macroblock-tree rate control off, and the RGB→YUV
    conversion done in numpy so the pixels handed to x264 do not depend on libswscale.
    ``tests/pipelines/test_synth.py`` checks that two writes of one config are byte-identical.
    """
    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.pix_fmt = "yuv420p"
        # A long GOP with B-frames, as in real footage: seeking and keyframe-only decoding stay honest.
        stream.codec_context.options = {"crf": str(crf), "preset": "veryfast", "bf": "2", "g": "48",
                                        "keyint_min": "48", "sc_threshold": "0", "threads": "1",
                                        "x264-params": "mbtree=0"}
        count = 0
        for image in frames:
            if count == 0:
                stream.height, stream.width = image.shape[:2]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(_yuv420p(image), format="yuv420p")))
            count += 1
        container.mux(stream.encode())
    finally:
        container.close()
    return count
