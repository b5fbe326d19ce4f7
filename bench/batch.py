"""Batch throughput: videos per hour on realistic files, gated vs dense, on the device named; and videos per
minute with 1 vs 2 local worker processes, and local vs server mode.

    python -m bench.batch --device cuda --videos 60 --gop 250 --heavy x3d_m --size 224 --frames 16
    python -m bench.batch --device cuda --videos 60 --gop 250 --heavy x3d_m --decoder torchcodec-cuda
    python -m bench.batch --footage --videos 20              # the CPU (device auto), the demo model
    python -m bench.batch --device cpu --videos 4 --no-write  # a quick check of the bench itself
    python -m bench.batch --footage --videos 20 --against REV # ... and the code at git revision REV beside it
    python -m bench.batch --videos 100                        # small synthetic videos: workers, server mode

``--device`` (or ``--footage``): 5-minute 640×360 files, `vidgate batch` local mode dense, gated at 25% and at
the learned threshold, each video's stage times (median and slowest), and on CUDA the GPU's utilisation and
the full-decode ceiling on the GPU (`nvdec_ceiling`); ``--device cuda`` without a CUDA device stops with a
message. Without it: N small synthetic videos (data/bench/batch/) run three ways. Each writes its section of
docs/benchmarks.md (``--no-write``: print it only); ``--against REV`` also times dense and gated 25% with the
code at git revision REV beside this code's and writes that comparison into docs/batch.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import av
import httpx
import torch

from models import DEMO_CHECKPOINT
from pipelines.options import Options, parse_options
from pipelines.synth import SynthConfig, write_synthetic_dataset
from service.batch.runner import BatchPlan, run_batch
from service.config import Settings

from .common import machine, write_section

ROOT = Path(__file__).resolve().parents[1]


def _serve(port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIDGATE_DATA_DIR": str(data), "VIDGATE_WORKERS": "2", "VIDGATE_MAX_QUEUE": "100000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become ready")


def _plan(**choices: Any) -> BatchPlan:
    return BatchPlan(options=Options(), settings=Settings(), checkpoint=DEMO_CHECKPOINT, **choices)


def _remux(source: Path, target: Path, *, title: str) -> None:
    """Copy the video stream's packets into a new file (no re-encoding), with a metadata title."""
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(source)) as inp, av.open(str(tmp), mode="w") as out:
        out.metadata["title"] = title
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    tmp.rename(target)


STAGES = ("decode", "decode_wait", "light", "gate", "heavy", "head", "total")


def anchor(heading: str) -> str:
    """The fragment a markdown renderer gives ``heading`` (GitHub's: lower case, punctuation dropped, spaces
    to hyphens)."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def stage_line(stages: dict[str, dict[str, dict[str, float]]]) -> str:
    """Each video's own stage seconds, median and slowest video per setting: where a batch's time went."""
    cells = "; ".join(
        f"{label}: " + ", ".join(f"{k} {t[k]['median']:.2f} / {t[k]['max']:.2f}" for k in STAGES if k in t)
        for label, t in stages.items())
    return (f"Each video's own stage seconds (the recognizer's timings: decode and decode_wait on the host, the "
            f"networks' passes as the device timed them), median / slowest video: {cells}.")


class GpuSampler:
    """The GPU's utilisation while a run goes on: NVML's percentage of time a kernel was running, sampled every
    0.2 s (through torch with nvidia-ml-py installed, else ``nvidia-smi``); ``mean`` is None where neither answers."""

    def __init__(self, device: torch.device) -> None:
        self.index = device.index if device.index is not None else torch.cuda.current_device()
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._smi: subprocess.Popen[str] | None = None

    def __enter__(self) -> GpuSampler:
        try:
            torch.cuda.utilization(self.index)
        except Exception:  # no NVML bindings (nvidia-ml-py): ask nvidia-smi
            if shutil.which("nvidia-smi") is None:
                return self
            self._smi = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                          f"--id={self.index}", "-lms", "200"], stdout=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._read_smi, daemon=True)
        else:
            self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._smi is not None:
            self._smi.terminate()
            self._smi.wait(10)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append(float(torch.cuda.utilization(self.index)))

    def _read_smi(self) -> None:
        assert self._smi is not None and self._smi.stdout is not None
        for line in self._smi.stdout:
            if line.strip().isdigit():
                self.samples.append(float(line))


def _torchcodec_reader(device: torch.device) -> Callable[[Path], int]:
    from torchcodec.decoders import VideoDecoder

    def decode_all(path: Path) -> int:
        decoder = VideoDecoder(str(path), device=str(device))
        total = decoder.metadata.num_frames or 0
        for first in range(0, total, 240):
            decoder.get_frames_in_range(first, min(total, first + 240))  # (≤240, 3, H, W) on the device, dropped
            if getattr(decoder, "cpu_fallback", None):  # torchcodec ≥ 0.10 says so instead of failing
                raise RuntimeError(f"torchcodec decoded on the CPU instead: {decoder.cpu_fallback}")
        torch.cuda.current_stream(device).synchronize()  # this thread's decoding is done (the bench's clock only)
        return int(total)

    return decode_all


def _pyav_reader(device: torch.device) -> Callable[[Path], int]:
    from av.codec.hwaccel import HWAccel

    def decode_all(path: Path) -> int:
        accel = HWAccel("cuda", device=str(device.index or 0), allow_software_fallback=False, is_hw_owned=True)
        frames = 0
        with av.open(str(path), hwaccel=accel) as container:
            for frame in container.decode(video=0):  # each frame left in the device's memory, dropped
                if not frames and frame.format.name != "cuda":
                    raise RuntimeError(f"PyAV decoded to {frame.format.name} frames on the host, not on the GPU")
                frames += 1
        return frames

    return decode_all


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# The readers that decode on the GPU, the product's own first; frames stay in the device's memory.
NVDEC_READERS = {"torchcodec on CUDA": _torchcodec_reader, "PyAV with FFmpeg's NVDEC hwaccel": _pyav_reader}


def nvdec_ceiling(files: list[Path], device: torch.device, streams: tuple[int, ...]
                  ) -> tuple[list[tuple[int, int, float, int]], str, str | None]:
    """Videos per hour when every frame of the files is decoded on the GPU (NVDEC), with ``k`` files decoding at
    once for each ``k`` of ``streams`` (each on ``max(2, k)`` files), by the first of `NVDEC_READERS` that decodes
    there: rows of (k, files, seconds, frames), the reader's name ("" if none decodes here) and why it stopped
    short (None when every ``k`` ran)."""
    why: list[str] = []
    for name, reader in NVDEC_READERS.items():
        try:
            decode_all = reader(device)
            decode_all(files[0])  # warm: NVDEC's and the reader's first use in the process
        except Exception as exc:  # not installed, no NVDEC in its FFmpeg, no driver: say which
            why.append(f"{name}: {_first_line(exc)}")
            continue
        rows: list[tuple[int, int, float, int]] = []
        for k in streams:
            chosen = [files[i % len(files)] for i in range(max(2, k))]
            start = time.perf_counter()
            try:
                with ThreadPoolExecutor(max_workers=k) as pool:
                    frames = sum(pool.map(decode_all, chosen))
            except Exception as exc:  # e.g. out of NVDEC sessions: the rows so far stand
                return rows, name, f"{k} files at once failed: {_first_line(exc)}"
            rows.append((k, len(chosen), time.perf_counter() - start, frames))
        return rows, name, None
    return [], "", "; ".join(why)


# One `vidgate batch` (local mode, the tree's own defaults and demo model) in a child process of the tree given:
# the same calls in the code before and after a change, so that both are timed the same way.
_CHILD_BATCH = """
import json, sys
from pathlib import Path
from models import DEMO_CHECKPOINT
from pipelines.options import parse_options
from service.batch.runner import BatchPlan, run_batch
from service.config import Settings
folder, results, options = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
plan = BatchPlan(options=parse_options(options), settings=Settings(), checkpoint=DEMO_CHECKPOINT)
summary = run_batch([folder], results, plan)
print(json.dumps({"total": summary.total, "ok": summary.ok, "seconds": summary.seconds}))
"""


def code_at(rev: str) -> tuple[Path, str]:
    """The project's files at git revision ``rev`` (``git archive``, kept in data/bench/code-SHA/): (folder, sha)."""
    sha = subprocess.run(["git", "rev-parse", "--short", f"{rev}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = ROOT / "data" / "bench" / f"code-{sha}"
    if not (tree / "pyproject.toml").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, sha


def against(rev: str, folder: Path, choices: dict[str, dict[str, Any]], rounds: int = 2) -> list[str]:
    """`vidgate batch` of ``folder`` with the code at ``rev`` and with this code, each setting of ``choices`` in
    a child process of each tree (its own defaults and demo model), ``rounds`` times in alternating order (the
    earlier code first, then this code first): lines of a section, each tree's mean seconds per setting."""
    old, sha = code_at(rev)
    trees = {f"before ({sha})": old, "now": ROOT}
    seconds: dict[tuple[str, str], list[float]] = {}
    failed: list[str] = []
    totals: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for label, options in choices.items():
                for name in (list(trees) if round_ % 2 == 0 else list(trees)[::-1]):
                    results = Path(tmp) / f"{round_}-{len(seconds)}-{name.split()[0]}.jsonl"
                    done = subprocess.run([sys.executable, "-c", _CHILD_BATCH, str(folder), str(results),
                                           json.dumps(options)], cwd=trees[name], check=True, capture_output=True,
                                          text=True, env={**os.environ, "PYTHONPATH": str(trees[name])})
                    summary = json.loads(done.stdout.strip().splitlines()[-1])
                    if summary["ok"] != summary["total"]:
                        failed.append(f"{name}, {label}: {summary['total'] - summary['ok']} of {summary['total']}")
                    seconds.setdefault((name, label), []).append(summary["seconds"])
                    totals.append(summary["total"])
                    print(name, label, f"{summary['seconds']:.1f} s", flush=True)
    videos = max(totals)
    mean = {key: statistics.fmean(values) for key, values in seconds.items()}
    labels = list(choices)
    rows = [f"| {name} | " + " | ".join(f"{mean[name, label]:.1f} / {3600 * videos / mean[name, label]:.0f}"
                                         for label in labels)
            + f" | {mean[name, labels[0]] / mean[name, labels[-1]]:.2f}× |" for name in trees]
    now, before = (mean["now", labels[-1]], mean[f"before ({sha})", labels[-1]])
    return [
        f"The code before and after, side by side: `vidgate batch` of the same {videos} files in a child process "
        f"of each tree ({sha if rev == sha else f'{rev} = {sha}'}, from `git archive`; each with its own defaults "
        "and demo model), "
        f"{rounds} round{'s' if rounds > 1 else ''} in alternating order, mean seconds / videos per hour:",
        "",
        "| code | " + " | ".join(labels) + f" | {labels[-1]} vs {labels[0]} |",
        "|---|" + "---|" * (len(labels) + 1),
        *rows,
        "",
        f"{labels[-1].capitalize()} now runs at {before / now:.2f}× the videos per hour of the earlier code."
        + (f" Failed videos: {'; '.join(failed)}." if failed else ""),
    ]


def footage_batch(videos: int, *, gops: tuple[int, ...] = (250, 60), heavy: str | None = None, size: int = 224,
                  frames: int = 16, device: str = "auto", decoders: int | None = None, threads: int | None = None,
                  decoder: str | None = None, streams: tuple[int, ...] = (1, 4, 8, 16), write: bool = True,
                  before: str | None = None) -> None:
    """Videos per hour on 5-minute 640×360 files, dense, gated at 25% and at the learned threshold, one model
    process (`vidgate batch` local mode) with the videos in flight its settings give (`Settings.in_flight`).

    On CUDA also: the GPU's utilisation during each run, and the ceiling of any reader that looks at every
    frame: the same files decoded whole on the GPU (`nvdec_ceiling`). ``heavy`` swaps the demo model for a
    full-size heavy backbone with random weights (`bench.e2e.random_model`), written to a temporary checkpoint:
    the batch runner loads it as it loads any model. ``device``, ``decoders``, ``threads`` and ``decoder``
    are the `Settings` fields of those names (default: theirs). ``write`` False prints the section only.
    ``before`` (a git revision): dense and gated 25% with that revision's code beside this code's (`against`), in
    a section of docs/batch.md.
    """
    from models import save_checkpoint
    from pipelines.decoding import choose_backend
    from pipelines.training import resolve_device

    from .common import make_footage
    from .e2e import random_model

    resolved = resolve_device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: no CUDA device here (torch.cuda.is_available() is False); "
                         "run with --device cpu for a check of the bench on the CPU")
    sources = [make_footage(300, gop) for gop in gops]
    folder = ROOT / "data" / "bench" / f"batch-footage-{videos}-g{'-'.join(map(str, gops))}"
    folder.mkdir(parents=True, exist_ok=True)
    # The encodings alternating, each copy remuxed with a title of its own: distinct files.
    copies = [folder / f"{i:03d}-{sources[i % len(sources)].name}" for i in range(videos)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(lambda i: _remux(sources[i % len(sources)], copies[i], title=f"bench copy {i}"),
                      [i for i, copy in enumerate(copies) if not copy.exists()]))
    updates = {"device": device, **{k: v for k, v in (("decoders", decoders), ("threads", threads),
                                                       ("decoder", decoder)) if v is not None}}
    settings = Settings().model_copy(update=updates)
    cuda = resolved.type == "cuda"
    section = "-".join(["batch-footage", *([resolved.type] if cuda else []), *([heavy] if heavy else []),
                        *([settings.decoder] if settings.decoder != "pyav" else []),
                        *([f"threads{threads}"] if threads is not None else [])])
    rows: list[tuple[str, int, int, float, float | None]] = []
    choices: dict[str, dict[str, Any]] = {
        "dense": {"mode": "dense"},
        "gated 25%": {"budget": 0.25},
        "gated, learned threshold": {},
    }
    stages: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, model = DEMO_CHECKPOINT, "the demo model (tiny2d + tiny3d at 112²)"
        if heavy:
            network, model = random_model(heavy, size, frames)
            checkpoint = save_checkpoint(network, Path(tmp) / f"random-{heavy}.safetensors")
            model += " (its gate's threshold is the config's default, not learned)"
        plans = {label: BatchPlan(options=parse_options(options), settings=settings, checkpoint=checkpoint)
                 for label, options in choices.items()}
        if cuda:  # CUDA's first use in a process (context, kernels, cuDNN plans): not what a batch pays per video
            for label, plan in plans.items():
                run_batch([str(c) for c in copies[:2]], Path(tmp) / f"warm-{label}.jsonl", plan)
        for label, plan in plans.items():
            results = Path(tmp) / f"{len(rows)}.jsonl"
            with GpuSampler(resolved) if cuda else nullcontext() as sampler:
                summary = run_batch([str(folder)], results, plan)
            rows.append((label, summary.total, summary.ok, summary.seconds, sampler.mean if sampler else None))
            timings = [r["timings"] for r in map(json.loads, results.read_text().splitlines()) if r.get("timings")]
            stages[label] = {k: {"median": statistics.median(t.get(k, 0.0) for t in timings),
                                 "max": max(t.get(k, 0.0) for t in timings)}
                             for k in STAGES if timings}
    ceiling, reader, stopped = nvdec_ceiling(copies, resolved, streams) if cuda else ([], "", None)
    in_flight = settings.in_flight(resolved.type, choose_backend(settings.decoder, device=resolved.type))
    per_hour = {label: 3600 * n / seconds for label, n, _, seconds, _ in rows}
    intervals = " and ".join(map(str, gops))
    lines = [
        f"## Batch throughput on 5-minute videos{f' with {heavy}' if heavy else ''} on {resolved.type.upper()}: "
        "gated vs dense",
        "",
        f"`python -m bench.batch {' '.join(sys.argv[1:])}` on {machine()}: {videos} files of 5 minutes, 640×360 "
        f"30 fps (looped real footage, x264 veryfast, keyframe interval{'s' if len(gops) > 1 else ''} {intervals}"
        f"{' alternating' if len(gops) > 1 else ''}: copies of "
        f"{'the encodings' if len(gops) > 1 else 'one file'} remuxed with a distinct title each, so that no file is "
        f"a duplicate of another), {model}, run on {resolved}; decoder {settings.decoder}; "
        f"`vidgate batch` local mode: one model process"
        f"{f' with {settings.threads} torch CPU thread(s)' if settings.threads else ''}, "
        f"{settings.decoders} decoding child(ren), {in_flight} videos in flight (their passes batched by the "
        f"device loop), the settings side by side in one run"
        + (" (before the timed runs, each setting ran once on 2 of the files, untimed: CUDA's first use in a "
           "process)." if cuda else ".") + " " + stage_line(stages),
        "",
        "| setting | videos | ok | seconds | videos per hour | vs dense | GPU utilisation |",
        "|---|---|---|---|---|---|---|",
        *[f"| {label} | {n} | {ok} | {seconds:.1f} | {per_hour[label]:.0f} | "
          f"{per_hour[label] / per_hour['dense']:.2f}× | {'—' if gpu is None else f'{gpu:.0f}%'} |"
          for label, n, ok, seconds, gpu in rows],
        "",
    ]
    if ceiling:
        best = max(3600 * n / seconds for _, n, seconds, _ in ceiling)
        lines += [
            "The ceiling of any reader that looks at every frame: the same files decoded whole on the GPU "
            f"(NVDEC, through {reader}; the frames stay in the device's memory), k files at once"
            f"{f' ({stopped})' if stopped else ''}:",
            "",
            "| files at once | files | seconds | frames per second | videos per hour |",
            "|---|---|---|---|---|",
            *[f"| {k} | {n} | {seconds:.1f} | {frames / seconds:.0f} | {3600 * n / seconds:.0f} |"
              for k, n, seconds, frames in ceiling],
            "",
            f"Gated 25% against the best of them ({best:.0f} videos per hour): {per_hour['gated 25%'] / best:.2f}×.",
        ]
    elif cuda:
        lines.append(f"The full-decode ceiling on the GPU was not measured: {stopped}.")
    text = "\n".join(lines)
    if write:
        write_section(section, text)
    print(text)
    if before:  # docs/batch.md: what a change to the product did to `vidgate batch`
        compared = "\n".join([
            f"## Throughput against the earlier code ({resolved.type.upper()})", "",
            f"`python -m bench.batch {' '.join(sys.argv[1:])}` on {machine()}, the files of "
            f"[{lines[0].removeprefix('## ')}](benchmarks.md#{anchor(lines[0])}). "
            + "\n".join(against(before, folder, {label: choices[label] for label in ("dense", "gated 25%")}))])
        if write:
            write_section(f"batch-against-{resolved.type}", compared, path=ROOT / "docs" / "batch.md")
        print(compared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--footage", action="store_true", help="5-minute real-footage files, gated vs dense "
                        "(implied by --device)")
    parser.add_argument("--gop", type=int, nargs="+", default=[250, 60],
                        help="keyframe intervals of the footage files, alternating (with --footage)")
    parser.add_argument("--heavy", help="a full-size heavy backbone instead of the demo model, random weights "
                        "(with --footage)")
    parser.add_argument("--size", type=int, default=224, help="heavy input size with --heavy")
    parser.add_argument("--frames", type=int, default=16, help="snippet frames with --heavy")
    parser.add_argument("--device", help="Settings.device (VIDGATE_DEVICE): auto, cpu or cuda[:N]; implies --footage "
                        "(default auto)")
    parser.add_argument("--decoder", help="Settings.decoder (VIDGATE_DECODER): pyav, torchcodec-cuda... "
                        "(with --footage)")
    parser.add_argument("--decoders", type=int, help="Settings.decoders (default VIDGATE_DECODERS: one per core) "
                        "(with --footage)")
    parser.add_argument("--threads", type=int, help="Settings.threads (default VIDGATE_THREADS: torch's own) "
                        "(with --footage)")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8, 16],
                        help="files decoding at once for the GPU's full-decode ceiling (CUDA only)")
    parser.add_argument("--no-write", dest="write", action="store_false",
                        help="print the section, leave docs/benchmarks.md as it is")
    parser.add_argument("--against", metavar="REV", help="with --footage: also dense and gated 25%% with the code at "
                        "git revision REV, beside this code's, each in a child process (its defaults, its demo model)")
    args = parser.parse_args()
    if args.footage or args.device is not None:
        footage_batch(args.videos, gops=tuple(args.gop), heavy=args.heavy, size=args.size, frames=args.frames,
                      device=args.device or "auto", decoders=args.decoders, threads=args.threads, decoder=args.decoder,
                      streams=tuple(args.streams), write=args.write, before=args.against)
        return
    data = ROOT / "data" / "bench" / f"batch-{args.videos}"
    if not (data / "annotations.csv").exists():
        write_synthetic_dataset(
            data, SynthConfig(videos=args.videos, seed=7, min_snippets=15, max_snippets=24), workers=2
        )
    videos = str(data / "videos")
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in (
            ("local, 1 worker", _plan(workers=1)),
            ("local, 2 workers", _plan(workers=2)),
        ):
            summary = run_batch([videos], Path(tmp) / f"{len(rows)}.jsonl", options)
            rows.append((label, summary.total, summary.seconds))
        server = _serve(args.port, Path(tmp) / "server")
        try:
            options = _plan(server=f"http://127.0.0.1:{args.port}", concurrency=4)
            summary = run_batch([videos], Path(tmp) / "server.jsonl", options)
            rows.append(("server (embedded, 2 worker threads), 4 in flight", summary.total, summary.seconds))
        finally:
            server.terminate()
            server.wait(30)
    lines = [
        "## Batch throughput",
        "",
        f"`python -m bench.batch --videos {args.videos}` on {machine()}: {args.videos} synthetic videos "
        "(112×112, 12 fps, 15–24 snippets each), demo model, gated at its learned threshold, side by side in one run.",
        "",
        "| mode | videos | seconds | videos per minute |",
        "|---|---|---|---|",
        *[f"| {label} | {n} | {seconds:.1f} | {60 * n / seconds:.1f} |" for label, n, seconds in rows],
        "",
        "Each local worker process imports torch and loads the model once (a few seconds, included above). "
        "With 2 cores, 2 processes share them: the gain is bounded by the cores, not by the batch runner.",
    ]
    if args.write:
        write_section("batch", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
