"""Prometheus metrics: what the handler observes per finished job, and queue gauges read at scrape time.

The handler records into one process-wide registry (`REGISTRY`). In embedded mode that is the API's
own process, so ``/metrics`` shows everything; in Redis mode each ``vidgate worker`` can expose the same
metrics on its own port (``vidgate worker --metrics-port N``) while the API's ``/metrics`` shows the queue gauges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .jobs import JobStatus

REGISTRY = CollectorRegistry(auto_describe=True)

STAGE_SECONDS = Histogram(
    "vidgate_stage_seconds",
    "Wall-clock seconds per recognizer stage (probe, decode, decode_wait, light, gate, heavy, head, total).",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
SELECTED_FRACTION = Histogram(
    "vidgate_selected_fraction",
    "Fraction of snippets the heavy network saw, per job.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
    registry=REGISTRY,
)
GFLOPS_SAVED = Counter(
    "vidgate_gflops_saved", "GFLOPs not spent compared with running the heavy network densely.", registry=REGISTRY
)
GFLOPS_SPENT = Counter("vidgate_gflops", "GFLOPs spent (light + gate + heavy + head).", registry=REGISTRY)
JOBS_FINISHED = Counter(
    "vidgate_jobs_finished",
    "Jobs this process's workers ran, by outcome (retried: handed back for another delivery after a worker error).",
    ["status"],
    registry=REGISTRY,
)


def record_result(result: Mapping[str, Any]) -> None:
    """Record one finished recognition (a `RecognitionResult.to_dict()`)."""
    for stage, seconds in result.get("timings", {}).items():
        STAGE_SECONDS.labels(stage=stage).observe(float(seconds))
    compute = result.get("compute", {})
    if "selected_fraction" in compute:
        SELECTED_FRACTION.observe(float(compute["selected_fraction"]))
    dense, spent = float(compute.get("gflops_dense", 0.0)), float(compute.get("gflops", 0.0))
    GFLOPS_SPENT.inc(max(spent, 0.0))
    GFLOPS_SAVED.inc(max(dense - spent, 0.0))


class QueueCollector(Collector):
    """Gauges read from the queue at scrape time: jobs by status and queue depth.

    Args:
        stats: returns job counts by status (the queue's ``stats()``).
        depth: returns the number of jobs waiting (the queue's ``depth()``).
    """

    def __init__(self, stats: Callable[[], Mapping[str, Any]], depth: Callable[[], int]) -> None:
        self._stats = stats
        self._depth = depth

    def collect(self) -> Iterator[Metric]:
        try:  # a scrape must answer while the queue is down: say so instead of failing
            counts, depth = _counts(self._stats()), self._depth()
        except Exception:
            yield GaugeMetricFamily("vidgate_queue_up", "1 when the queue answered this scrape.", value=0.0)
            return
        yield GaugeMetricFamily("vidgate_queue_up", "1 when the queue answered this scrape.", value=1.0)
        jobs = GaugeMetricFamily("vidgate_jobs", "Jobs in the store, by status.", labels=["status"])
        for status, count in sorted(counts.items()):
            jobs.add_metric([status], float(count))
        yield jobs
        yield GaugeMetricFamily("vidgate_queue_depth", "Jobs waiting for a worker.", value=float(depth))


def _counts(stats: Mapping[str, Any]) -> dict[str, int]:
    """Job counts by status from a stats mapping (either flat or under a ``by_status`` key)."""
    source = stats.get("by_status", stats) if isinstance(stats.get("by_status"), Mapping) else stats
    return {s.value: int(source.get(s.value, 0)) for s in JobStatus}


def exposition(extra: CollectorRegistry | None = None) -> bytes:
    """The text exposition of the process-wide metrics plus ``extra``."""
    out = generate_latest(REGISTRY)
    if extra is not None:
        out += generate_latest(extra)
    return out
