"""The synthetic long-range activity benchmark.

Each activity class is a combination of 2–3 *atomic events*; an event is an object (a saturated,
white-outlined shape such as a red square or a blue disc) performing a motion (left, right, up,
down, cw, ccw) for about one snippet. A video holds every event of its class once, at random
snippets in random order, among long irrelevant footage: a drifting textured background, small
grey distractor objects wandering around, flicker and noise. At least 80% of snippets hold no event.

Why it measures what vidgate claims:

- One frame shows *where* something relevant happens (event objects are large, saturated and
  outlined; distractors are small and grey), so a light encoder on centre frames can gate.
- One frame does *not* show *which* activity it is: classes come in pairs that differ only in the
  direction of one event's motion, and an event's centre-frame pose is drawn independently of its
  direction, so only a network that sees a snippet's frames in order can tell the pair apart.
- Backgrounds, distractors and event positions are independent of the class, so memorising a
  video's look does not help on held-out videos.

Structure classes (``order_classes``, ``count_classes``) test what a bag of events cannot tell:

- *order* pairs show the same two events in opposite order, at least ``min_gap_s`` seconds apart
  (tens of seconds on long videos): a head that pools without looking at time is at chance inside a pair;
- *count* pairs show one event once or three times: only a head that counts can tell them apart.

Every class has a group (``other``: the direction pairs above, ``order``, ``count``), written into
``relevance.json`` with its partner. With ``multi_label`` some videos show the events of two classes
that share no event, labelled ``a|b``.

Layout contract (also written into ``relevance.json``): a video of ``num_snippets`` snippets has
exactly ``num_snippets × snippet_frames`` frames and snippet ``i`` is frames
``[i·snippet_frames, (i+1)·snippet_frames)``: consecutive, non-overlapping, covering the whole video,
which is how the recognizer plans a video of that length. An event covers its whole snippet and
spills at most two frames into each neighbour, never reaching a neighbour's centre frame.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

Progress = Callable[[int, int], None]

MOTIONS = ("left", "right", "up", "down", "cw", "ccw")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "cw": "ccw", "ccw": "cw"}
# Event objects: saturated colours only they use (the background and distractors stay grey-ish).
OBJECTS: tuple[tuple[str, str], ...] = (
    ("red", "square"), ("blue", "disc"), ("green", "triangle"),
    ("yellow", "square"), ("magenta", "triangle"), ("cyan", "disc"),
)
COLOURS = {"red": (235, 35, 35), "blue": (40, 90, 250), "green": (30, 215, 60),
           "yellow": (250, 225, 20), "magenta": (230, 40, 230), "cyan": (20, 220, 230)}
MAX_EVENTS = 3
MAX_RELEVANT_FRACTION = 0.2
_SPILL = 2  # frames an event may reach into each neighbouring snippet (< a neighbour's centre frame)
_CLASS_DESIGN_SEED = 20_240  # classes depend only on their number, so every seed shares them


@dataclass(frozen=True)
class Event:
    """One atomic event: an object performing a motion."""

    colour: str
    shape: str
    motion: str

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape} {self.motion}"


GROUPS = ("other", "order", "count")


@dataclass(frozen=True)
class ActivityClass:
    """An activity: its name, the events that make it, its partner and its group.

    Attributes:
        name: class name.
        events: every event occurrence of the activity (a repeated event is listed as often as it happens).
        partner: the class it is easiest to confuse with (see ``group``).
        group: ``other`` (events in random order; the partner differs in one event's motion direction),
            ``order`` (events happen in this order, far apart; the partner has the reverse order) or
            ``count`` (the partner repeats the same event another number of times).
    """

    name: str
    events: tuple[Event, ...]
    partner: str | None = None
    group: str = "other"

    @property
    def ordered(self) -> bool:
        return self.group == "order"


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    Attributes:
        videos: number of videos.
        classes: number of activity classes (pairs differing in one motion direction).
        size: frame width and height in pixels (even).
        fps: frame rate.
        snippet_frames: frames per snippet.
        min_snippets: fewest snippets per video.
        max_snippets: most snippets per video (the number varies per video).
        seed: random seed; the same seed gives the same data set.
        max_distractors: most grey distractor objects per video (at least one).
        noise: standard deviation of per-pixel temporal noise (0–255 scale).
        splits: train/val/test fractions, stratified by class.
        crf: x264 quality (lower is better and bigger).
        order_classes: classes defined by the order of two events (pairs: A then B, B then A).
        count_classes: classes defined by how often one event happens (pairs: once, three times).
        min_gap_s: least time between the starts of the events of an order class, in seconds.
        multi_label: half of the videos show a second class (one that shares no event with the first).
    """

    videos: int = 300
    classes: int = 10
    size: int = 112
    fps: float = 12.0
    snippet_frames: int = 8
    min_snippets: int = 32
    max_snippets: int = 64
    seed: int = 0
    max_distractors: int = 4
    noise: float = 4.0
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    crf: int = 23
    order_classes: int = 0
    count_classes: int = 0
    min_gap_s: float = 10.0
    multi_label: bool = False

    @property
    def total_classes(self) -> int:
        return self.classes + self.order_classes + self.count_classes

    @property
    def gap_snippets(self) -> int:
        """``min_gap_s`` in snippets (rounded up)."""
        return math.ceil(self.min_gap_s * self.fps / self.snippet_frames)

    def __post_init__(self) -> None:
        most_events = MAX_EVENTS * (2 if self.multi_label else 1)
        min_for_sparsity = math.ceil(most_events / MAX_RELEVANT_FRACTION)
        checks = [
            (self.videos >= 1, "videos must be at least 1"),
            (self.classes >= 0 and 2 <= self.total_classes <= 60, "classes must be between 2 and 60 in all"),
            (self.classes != 1, "classes (direction pairs) must be 0 or at least 2"),
            (self.order_classes >= 0 and self.order_classes % 2 == 0, "order_classes must be an even number"),
            (self.count_classes >= 0 and self.count_classes % 2 == 0, "count_classes must be an even number"),
            (self.min_gap_s >= 0, "min_gap_s must not be negative"),
            (not self.order_classes or self.gap_snippets <= self.min_snippets // 2,
             f"min_gap_s ({self.min_gap_s:g} s) must fit twice into the shortest video "
             f"({self.min_snippets * self.snippet_frames / self.fps:g} s): lower it or raise min_snippets"),
            (self.size >= 32 and self.size % 2 == 0, "size must be an even number of pixels, at least 32"),
            (self.fps > 0, "fps must be positive"),
            (self.snippet_frames >= 4, "snippet_frames must be at least 4"),
            (self.min_snippets >= min_for_sparsity,
             f"min_snippets must be at least {min_for_sparsity} (at most {MAX_RELEVANT_FRACTION:.0%} of "
             f"snippets may hold one of up to {most_events} events)"),
            (self.max_snippets >= self.min_snippets, "max_snippets must be at least min_snippets"),
            (self.max_distractors >= 1, "max_distractors must be at least 1"),
            (self.noise >= 0, "noise must not be negative"),
            (len(self.splits) == 3 and all(f >= 0 for f in self.splits) and abs(sum(self.splits) - 1) < 1e-6,
             "splits must be three non-negative fractions summing to 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# ------------------------------------------------------------------------------------ class design
def design_classes(count: int) -> tuple[ActivityClass, ...]:
    """The activity classes: pairs that differ only in the direction of one event's motion.

    Deterministic in ``count`` alone. With an odd count the last class has no partner.
    """
    rng = np.random.default_rng(_CLASS_DESIGN_SEED)
    seen: set[frozenset[Event]] = set()
    designs: list[tuple[tuple[Event, ...], int | None]] = []  # (events, partner index)

    def draw(axis: tuple[str, str] | None) -> tuple[tuple[Event, ...], int]:
        """A new combination of events; with ``axis``, one event (returned index) moves along it."""
        while True:
            k = int(rng.integers(2, MAX_EVENTS + 1))
            picks = rng.choice(len(OBJECTS), size=k, replace=False)
            motions = [MOTIONS[int(rng.integers(len(MOTIONS)))] for _ in picks]
            flip = int(rng.integers(k))
            if axis is not None:
                motions[flip] = axis[int(rng.integers(2))]
            events = tuple(Event(*OBJECTS[int(i)], m) for i, m in zip(picks, motions, strict=True))
            if frozenset(events) not in seen:
                return events, flip

    # The flipped direction cycles through the three axes, so no one kind of motion carries every pair.
    axes = (("left", "right"), ("up", "down"), ("cw", "ccw"))
    while len(designs) < count:
        if len(designs) + 1 == count:
            base, _ = draw(None)
            seen.add(frozenset(base))
            designs.append((base, None))
            break
        base, flip = draw(axes[(len(designs) // 2) % 3])
        partner = tuple(Event(e.colour, e.shape, OPPOSITE[e.motion]) if i == flip else e for i, e in enumerate(base))
        if frozenset(partner) in seen:
            continue
        seen.update({frozenset(base), frozenset(partner)})
        n = len(designs)
        designs += [(base, n + 1), (partner, n)]
    names = [f"activity_{i:02d}" for i in range(count)]
    return tuple(ActivityClass(names[i], events, None if p is None else names[p])
                 for i, (events, p) in enumerate(designs))


def design_structure_classes(order: int, count: int,
                             taken: tuple[ActivityClass, ...] = ()) -> tuple[ActivityClass, ...]:
    """Order and count pairs, deterministic in their numbers and the classes already ``taken``.

    Order pair ``k``: two events of different objects, ``order_{2k}`` shows them in one order and
    ``order_{2k+1}`` in the other. Count pair ``k``: one event, once in ``count_{2k}`` and three times in
    ``count_{2k+1}``. No two classes of the data set have the same events regardless of order, except
    the two classes of an order pair; no event is used by two structure pairs.
    """
    rng = np.random.default_rng([_CLASS_DESIGN_SEED, 1])
    seen = {frozenset(c.events) for c in taken}
    used: set[Event] = set()
    out: list[ActivityClass] = []

    def event() -> Event:
        while True:
            e = Event(*OBJECTS[int(rng.integers(len(OBJECTS)))], MOTIONS[int(rng.integers(len(MOTIONS)))])
            if e not in used:
                used.add(e)
                return e

    for k in range(order // 2):
        while True:
            a, b = event(), event()
            if (a.colour, a.shape) != (b.colour, b.shape) and frozenset((a, b)) not in seen:
                break
        seen.add(frozenset((a, b)))
        first, second = f"order_{2 * k:02d}", f"order_{2 * k + 1:02d}"
        out += [ActivityClass(first, (a, b), second, "order"), ActivityClass(second, (b, a), first, "order")]
    for k in range(count // 2):
        a = event()
        once, thrice = f"count_{2 * k:02d}", f"count_{2 * k + 1:02d}"
        out += [ActivityClass(once, (a,), thrice, "count"), ActivityClass(thrice, (a, a, a), once, "count")]
    return tuple(out)


def all_classes(config: SynthConfig) -> tuple[ActivityClass, ...]:
    """Every class of a data set made with ``config``: direction pairs, then order pairs, then count pairs."""
    base = design_classes(config.classes)
    return base + design_structure_classes(config.order_classes, config.count_classes, base)


# ------------------------------------------------------------------------------------- video plan
@dataclass(frozen=True)
class _Placed:
    event: Event
    snippet: int
    first: int  # first frame (inclusive)
    last: int  # last frame (exclusive)
    activity: str  # the class the event belongs to


@dataclass(frozen=True)
class _VideoPlan:
    index: int
    labels: tuple[int, ...]
    split: str
    num_snippets: int


def _plan_videos(config: SynthConfig, classes: tuple[ActivityClass, ...]) -> list[_VideoPlan]:
    rng = np.random.default_rng([config.seed, 0])
    labels = np.arange(config.videos) % len(classes)
    rng.shuffle(labels)
    snippets = rng.integers(config.min_snippets, config.max_snippets + 1, size=config.videos)
    # Stratified split: rank each video within its class, then cut the videos sorted by that quantile,
    # so every class is spread over the splits and the global fractions come out exact.
    quantile = np.zeros(config.videos)
    for c in range(len(classes)):
        members = np.flatnonzero(labels == c)
        order = rng.permutation(len(members))
        quantile[members[order]] = (np.arange(len(members)) + rng.random()) / max(1, len(members))
    ranked = np.lexsort((np.arange(config.videos), quantile))
    n_train = round(config.splits[0] * config.videos)
    n_val = round(config.splits[1] * config.videos)
    split_of = {}
    for position, video in enumerate(ranked):
        split_of[int(video)] = "train" if position < n_train else "val" if position < n_train + n_val else "test"
    extra = _second_labels(config, classes, labels)
    return [_VideoPlan(i, (int(labels[i]), *extra[i]), split_of[i], int(snippets[i])) for i in range(config.videos)]


def _second_labels(config: SynthConfig, classes: tuple[ActivityClass, ...],
                   labels: np.ndarray) -> list[tuple[int, ...]]:
    """Multi-label: every other video (at random) also shows a class that shares no event with its first."""
    if not config.multi_label:
        return [() for _ in labels]
    rng = np.random.default_rng([config.seed, 3])
    out: list[tuple[int, ...]] = []
    for label in labels:
        first = classes[int(label)]
        fits = [i for i, c in enumerate(classes) if not set(c.events) & set(first.events)]
        out.append((int(rng.choice(fits)),) if fits and rng.random() < 0.5 else ())
    return out


def _place_events(activities: tuple[ActivityClass, ...], num_snippets: int, config: SynthConfig,
                  rng: np.random.Generator) -> list[_Placed]:
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
        first = max(0, start - int(rng.integers(0, _SPILL + 1)))
        last = min(total, start + config.snippet_frames + int(rng.integers(0, _SPILL + 1)))
        placed.append(_Placed(events[int(e)], int(snippet), first, last, owners[int(e)]))
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


def _frames(plan: _VideoPlan, placed: list[_Placed], config: SynthConfig) -> Iterator[np.ndarray]:
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


# ---------------------------------------------------------------------------------------- writing
def _readme(config: SynthConfig, classes: tuple[ActivityClass, ...]) -> str:
    lines = [
        "# Synthetic long-range activity benchmark",
        "",
        f"Generated by `vidgate synth` (pipelines/synth.py): {config.videos} videos, {len(classes)} classes, "
        f"{config.size}×{config.size} px at {config.fps:g} fps, {config.min_snippets}–{config.max_snippets} "
        f"snippets of {config.snippet_frames} frames per video, seed {config.seed}.",
        "",
        "Each activity is a set of atomic events (a saturated, white-outlined object performing a motion for "
        "about one snippet). A video shows every event of its class once, at random snippets and in random "
        "order, among irrelevant footage (drifting texture, grey distractors, noise). Classes come in pairs "
        "that differ only in the direction of one event's motion: one frame shows where an event happens, "
        "only a snippet's frames in order show which activity it is.",
        "",
        *([f"Order classes show two events in a fixed order, at least {config.min_gap_s:g} s apart; their partner "
           "has the reverse order. Count classes show one event once or three times.", ""]
          if config.order_classes or config.count_classes else []),
        *(["Multi-label: about half of the videos also show the events of a second class that shares no event "
           "with the first (label `a|b`).", ""] if config.multi_label else []),
        "`relevance.json` lists, per video, the snippets that hold an event (for gate evaluation only, "
        "never for training). Snippet i is frames [i·snippet_frames, (i+1)·snippet_frames); a video is "
        "exactly num_snippets × snippet_frames frames long.",
        "",
        "| class | group | events | partner |",
        "|---|---|---|---|",
    ]
    for c in classes:
        events = (" → " if c.ordered else ", ").join(e.name for e in c.events)
        lines.append(f"| {c.name} | {c.group} | {events} | {c.partner or '—'} |")
    return "\n".join(lines) + "\n"


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


def _write_h264(path: Path, frames: Iterator[np.ndarray], *, fps: float, crf: int) -> int:
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


def _write_one(root: Path, config: SynthConfig, activities: tuple[ActivityClass, ...],
               plan: _VideoPlan) -> tuple[tuple[str, str, str], dict[str, object]]:
    """Write one video; returns its annotation row and its relevance entry."""
    rng = np.random.default_rng([config.seed, 2, plan.index])
    placed = _place_events(activities, plan.num_snippets, config, rng)
    name = f"videos/{plan.index:05d}.mp4"
    written = _write_h264(root / name, _frames(plan, placed, config), fps=config.fps, crf=config.crf)
    if written != plan.num_snippets * config.snippet_frames:
        raise RuntimeError(f"{name}: wrote {written} frames, planned {plan.num_snippets * config.snippet_frames}")
    entry: dict[str, object] = {
        "num_snippets": plan.num_snippets,
        "frames": written,
        "fps": config.fps,
        "relevant": sorted(p.snippet for p in placed),
        "events": [{"snippet": p.snippet, "event": p.event.name, "class": p.activity, "frames": [p.first, p.last],
                    "seconds": [round(p.first / config.fps, 4), round(p.last / config.fps, 4)]}
                   for p in sorted(placed, key=lambda p: p.snippet)],
    }
    return (name, "|".join(a.name for a in activities), plan.split), entry


def write_synthetic_dataset(out: str | Path, config: SynthConfig | None = None, *,
                            progress: Progress | None = None, workers: int = 1) -> Path:
    """Write the benchmark as a vidgate data set folder (see docs/datasets.md).

    Writes ``videos/NNNNN.mp4`` (H.264), ``annotations.csv``, ``classes.txt``, ``relevance.json``
    (the snippet layout and the relevant snippets of every video) and ``README.md``.

    Args:
        out: folder to write into (created; existing files of the same names are overwritten).
        config: what to generate; defaults to ``SynthConfig()``.
        progress: called as ``progress(done, total)`` after each video.
        workers: processes writing videos in parallel (the output does not depend on it). They are
            spawned, so a script calling this with ``workers > 1`` needs the usual
            ``if __name__ == "__main__":`` guard.

    Returns:
        The data set folder.
    """
    config = config or SynthConfig()
    root = Path(out)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    classes = all_classes(config)
    plans = _plan_videos(config, classes)
    jobs = [(root, config, tuple(classes[i] for i in plan.labels), plan) for plan in plans]
    results: list[tuple[tuple[str, str, str], dict[str, object]]] = []
    if workers <= 1:
        for done, job in enumerate(jobs, start=1):
            results.append(_write_one(*job))
            if progress is not None:
                progress(done, len(jobs))
    else:
        # Spawned processes: the caller may hold torch or threads, which fork does not copy safely.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_write_one, *job) for job in jobs]
            for done, _ in enumerate(as_completed(futures), start=1):
                if progress is not None:
                    progress(done, len(jobs))
            results = [f.result() for f in futures]
    rows = [row for row, _ in results]
    relevance = {row[0]: entry for row, entry in results}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("video", "label", "split"))
    writer.writerows(rows)
    (root / "annotations.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (root / "classes.txt").write_text("".join(c.name + "\n" for c in classes), encoding="utf-8")
    sidecar = {
        "format": "vidgate-relevance/1",
        "snippet_frames": config.snippet_frames,
        "fps": config.fps,
        "layout": ("num_snippets consecutive non-overlapping snippets of snippet_frames frames cover the whole "
                   "video exactly (frames = num_snippets × snippet_frames); snippet i is frames "
                   "[i·snippet_frames, (i+1)·snippet_frames)"),
        "use": "gate evaluation only; never train on it",
        "classes": {c.name: {"events": [e.name for e in c.events], "partner": c.partner, "group": c.group,
                             "ordered": c.ordered} for c in classes},
        "videos": relevance,
    }
    text = json.dumps(sidecar, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (root / "relevance.json").write_text(text, encoding="utf-8")
    (root / "README.md").write_text(_readme(config, classes), encoding="utf-8")
    return root
