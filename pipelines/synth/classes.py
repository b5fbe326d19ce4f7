"""Activity classes of the synthetic benchmark: atomic events, their pairs, and what to generate.

See `pipelines.synth` for what the benchmark is and why it measures what vidgate claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
SPILL = 2  # frames an event may reach into each neighbouring snippet (< a neighbour's centre frame)
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
        segments: write ``segments.csv``, when each event happens (timed annotations, as real data sets have
            them; training learns where events are from them).
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
    segments: bool = True

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
