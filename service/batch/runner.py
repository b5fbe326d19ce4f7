"""Running a batch: local worker processes or a remote vidgate service, with progress and a summary."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipelines.options import Options

from ..config import Settings
from .records import Output, error_record, ok_record, record_key, skipped_record, video_name
from .sources import ArchiveLimits, Item, expand

log = logging.getLogger("vidgate.batch")


@dataclass(frozen=True)
class BatchPlan:
    """What to run and how: the recognition options, the settings the recognizer is built from
    (`service.recognizers.open_recognizer`, as for the CLI and the workers), and the batch's own choices."""

    options: Options
    settings: Settings
    checkpoint: Path
    workers: int = 1
    server: str | None = None
    api_key: str | None = None
    concurrency: int = 4
    retry_failed: bool = False
    follow_symlinks: bool = False
    artifacts: Path | None = None
    format: str = "jsonl"
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)


@dataclass
class Summary:
    """What a run did: ``total`` inputs processed (``ok`` or failed, by code), inputs ``skipped`` on purpose
    (each named, with its reason) and ``already_done`` by an earlier run of the same command."""

    total: int = 0
    ok: int = 0
    already_done: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    seconds: float = 0.0
    gflops: float = 0.0
    gflops_dense: float = 0.0

    def add(self, record: dict[str, Any]) -> None:
        if record["status"] == "skipped":
            self.skipped.append((record["source"], record["error"]["message"]))
            return
        self.total += 1
        if record["status"] == "ok":
            self.ok += 1
            self.gflops += record["compute"]["gflops"]
            self.gflops_dense += record["compute"]["gflops_dense"]
        else:
            self.failures[record["error"]["code"]] += 1

    def lines(self) -> list[str]:
        rate = 60 * self.total / self.seconds if self.seconds else 0.0
        out = [f"{self.total} processed ({self.ok} ok, {sum(self.failures.values())} failed), {len(self.skipped)} "
               f"skipped, {self.already_done} already done; {rate:.1f} videos/min over {self.seconds:.1f} s"]
        out += [f"skipped: {source}: {reason}" for source, reason in self.skipped]
        if self.failures:
            out.append("failures: " + ", ".join(f"{code} × {n}" for code, n in self.failures.most_common()))
        if self.gflops_dense:
            out.append(f"compute: {self.gflops:.1f} GFLOPs vs {self.gflops_dense:.1f} dense "
                       f"({1 - self.gflops / self.gflops_dense:.0%} saved)")
        return out


# ------------------------------------------------------------------------------------ local mode
_RECOGNIZER: Any = None


def _init_worker(settings: Settings, checkpoint: Path, threads: int) -> None:
    global _RECOGNIZER
    from ..recognizers import open_recognizer

    _RECOGNIZER = open_recognizer(settings, checkpoint=checkpoint, threads=threads)


def _close_worker() -> None:
    global _RECOGNIZER
    if _RECOGNIZER is not None:
        _RECOGNIZER.close()
        _RECOGNIZER = None


def _recognize(path: str, options: Options, name: str, artifacts: str | None, key: str) -> dict[str, Any]:
    """In a worker process: a result dict, or {"error": {...}} for bad input."""
    from pipelines.errors import VidgateError

    try:
        result: dict[str, Any] = _RECOGNIZER.recognize(path, options, name=name).to_dict()
    except VidgateError as exc:
        return {"error": exc.to_dict()}
    if artifacts:
        _save_artifacts(Path(path), result, Path(artifacts) / key)
    return result


def _save_artifacts(video: Path, result: dict[str, Any], folder: Path) -> None:
    from ..artifacts import render_artifact

    folder.mkdir(parents=True, exist_ok=True)
    for s in result["snippets"]:
        if s["selected"]:
            (folder / f"{s['index']}.jpg").write_bytes(render_artifact(video, s, "thumbnail"))
            (folder / f"{s['index']}.mp4").write_bytes(render_artifact(video, s, "clip"))


def _model_id(checkpoint: Path) -> str:
    from models.checkpoint import read_metadata

    config = read_metadata(checkpoint)["config"]
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
    return f"{config['name']}-{config['version']}-{digest}"


def run_batch(sources: list[str], out: Path, plan: BatchPlan) -> Summary:
    """Process every video of ``sources`` into ``out``; returns the summary (also printed)."""
    output = Output(out, plan.format)
    model = _model_id(plan.checkpoint) if not plan.server else f"server:{plan.server}"
    summary = Summary()
    progress = tqdm(desc="batch", unit="video", file=sys.stderr, dynamic_ncols=True,
                    mininterval=0.5 if sys.stderr.isatty() else 10.0)
    start = time.monotonic()
    executor: Executor
    limit = 2 * max(plan.workers, plan.concurrency)  # videos submitted and not yet written
    if plan.server:
        executor = ThreadPoolExecutor(max_workers=plan.concurrency)
        submit: Callable[[Item, str], Future[dict[str, Any]]] = lambda item, key: executor.submit(  # noqa: E731
            _remote, plan, item, key)
    elif plan.workers == 1:
        # One model in this process, as many videos in flight as a worker keeps (`Settings.in_flight`): while
        # some probe and decode in their own decoding children, the device loop batches the others' passes.
        _init_worker(plan.settings, plan.checkpoint, plan.settings.threads)
        videos = plan.settings.in_flight(_RECOGNIZER.device.type, _RECOGNIZER.backend)
        executor = ThreadPoolExecutor(max_workers=videos, thread_name_prefix="vidgate-batch")
        limit = max(limit, 2 * videos)  # keep every thread busy, with as many queued
        submit = lambda item, key: executor.submit(  # noqa: E731
            _recognize, str(item.path), plan.options, video_name(item.source),
            str(plan.artifacts) if plan.artifacts else None, key)
    else:
        threads = max(1, (os.cpu_count() or 1) // plan.workers)
        executor = ProcessPoolExecutor(max_workers=plan.workers, mp_context=get_context("spawn"),
                                       initializer=_init_worker, initargs=(plan.settings, plan.checkpoint, threads))
        submit = lambda item, key: executor.submit(  # noqa: E731
            _recognize, str(item.path), plan.options, video_name(item.source),
            str(plan.artifacts) if plan.artifacts else None, key)
    in_flight: dict[Future[dict[str, Any]], tuple[Item, str]] = {}
    items = _todo(expand(sources, plan.archive_limits, follow_symlinks=plan.follow_symlinks), output, model, plan,
                  summary)
    try:
        exhausted = False
        while not exhausted or in_flight:
            while not exhausted and len(in_flight) < limit:
                try:
                    item, key = next(items)
                except StopIteration:
                    exhausted = True
                    break
                if item.skipped:
                    _write(output, summary, skipped_record(item.source, key, *item.skipped))
                    continue
                if item.error:
                    _write(output, summary, error_record(item.source, item.sha256, key, *item.error))
                    progress.update(1)
                    continue
                in_flight[submit(item, key)] = (item, key)
            if not in_flight:
                continue
            done, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                item, key = in_flight.pop(future)
                item.release()
                try:
                    result = future.result()
                except Exception as exc:  # a worker process died: report it, go on with the others
                    result = {"error": {"code": "worker_error", "message": f"{type(exc).__name__}: {exc}"}}
                if "error" in result:
                    record = error_record(item.source, item.sha256, key, result["error"]["code"],
                                          result["error"]["message"])
                else:
                    assert item.sha256 is not None
                    record = ok_record(item.source, item.sha256, key, result)
                _write(output, summary, record)
                progress.update(1)
            progress.set_postfix(failed=sum(summary.failures.values()), in_flight=len(in_flight), refresh=False)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if not plan.server and plan.workers == 1:
            _close_worker()
        for item, _ in in_flight.values():
            item.release()
        progress.close()
        output.close()
    summary.seconds = time.monotonic() - start
    return summary


def _write(output: Output, summary: Summary, record: dict[str, Any]) -> None:
    output.write(record)
    summary.add(record)
    if summary.total % 20 == 0:
        output.sync()


def _todo(items: Iterator[Item], output: Output, model: str, plan: BatchPlan,
          summary: Summary) -> Iterator[tuple[Item, str]]:
    for item in items:
        # A skipped input is keyed by its name: a duplicate shares its content with the item it duplicates.
        key = record_key(None if item.skipped else item.sha256, model, plan.options.to_dict(), item.source)
        status = output.done.get(key)
        if status in ("ok", "skipped") or (status == "error" and not plan.retry_failed):
            summary.already_done += 1
            item.release()
            continue
        yield item, key


# ----------------------------------------------------------------------------------- server mode
RETRY_STATUSES = {429, 502, 503, 504}


def _remote(plan: BatchPlan, item: Item, key: str) -> dict[str, Any]:
    """Submit one video to a vidgate service and wait for its result (retries with backoff and jitter)."""
    import httpx

    assert plan.server is not None and item.path is not None
    headers = {"Idempotency-Key": key, **({"X-API-Key": plan.api_key} if plan.api_key else {})}
    # Form fields as the API reads them: text, or JSON's spelling of a typed value (true, 0.25).
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in plan.options.to_dict().items() if v is not None}
    with httpx.Client(base_url=plan.server, timeout=60) as client:
        response = _with_retries(lambda: _post(client, item, data, headers))
        if response.status_code >= 400:
            return {"error": _error_of(response)}
        job = response.json()
        url = f"/v1/jobs/{job['id']}"
        while True:
            response = _with_retries(lambda: client.get(url, headers=headers))
            if response.status_code >= 400:
                return {"error": _error_of(response)}
            job = response.json()
            if job["status"] == "succeeded":
                result: dict[str, Any] = job["result"]
                return result
            if job["status"] in ("failed", "cancelled"):
                return {"error": job.get("error") or {"code": job["status"], "message": job["status"]}}
            time.sleep(0.5)


def _post(client: Any, item: Item, data: dict[str, str], headers: dict[str, str]) -> Any:
    assert item.path is not None
    with item.path.open("rb") as f:
        return client.post("/v1/jobs", files={"file": (video_name(item.source), f, "application/octet-stream")},
                           data=data, headers=headers)


def _with_retries(call: Callable[[], Any], attempts: int = 8) -> Any:
    """Exponential backoff with jitter that honours the server's Retry-After (hand-written: the delay comes
    from the response, which a retry library would need the same code for)."""
    import httpx

    for attempt in range(attempts):
        try:
            response = call()
        except (httpx.TransportError, OSError):
            if attempt == attempts - 1:
                raise
            response = None
        if response is not None and response.status_code not in RETRY_STATUSES:
            return response
        if attempt == attempts - 1:
            return response
        retry_after = response.headers.get("Retry-After") if response is not None else None
        delay = float(retry_after) if retry_after and retry_after.isdigit() else min(30.0, 0.5 * 2**attempt)
        time.sleep(delay * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _error_of(response: Any) -> dict[str, str]:
    try:
        error: dict[str, str] = response.json()["error"]
        return error
    except (ValueError, KeyError, json.JSONDecodeError):
        return {"code": f"http_{response.status_code}", "message": response.text[:200]}
