"""Decoder backends side by side on the recognizer's access pattern; writes the "decoders" section.

    python -m bench.decoders                 # 5-minute 640×360 30 fps H.264 video, GOP 300, B-frames
    python -m bench.decoders --seconds 60    # a quicker run on a 1-minute video
    python -m bench.decoders --children      # where an isolated decoder's child comes from (docs/decoding.md)
    python -m bench.decoders --codec-threads # pool children's codec threads on real footage (docs/decoding.md)

The access pattern is the recognizer's: 64 centre frames spread over the whole video (ascending),
then 8 selected 8-frame snippets, all at size 112. Each backend runs it ``--repeats`` times,
interleaved with the others. Exactness is the fraction of the pattern's frames (full resolution)
equal to a plain sequential PyAV decode; a full sequential decode is timed for scale.

``--children`` compares the three ways an isolated decoder gets its child: forked from the warm fork
server, a started child of a `DecoderPool`, a freshly spawned interpreter; for a probe and for the access
pattern, the latency and the CPU of the caller, the child and the fork server together. It writes the
"children" section of docs/decoding.md.

``--codec-threads`` decodes what the recognizer asks of a 5-minute real-footage file (the demo model's plan:
dense, every snippet; gated 25%, the light pass's frames and every fourth snippet) with two pool children
decoding two videos at once, as a 2-core worker does, their codecs on one thread each and on FFmpeg's choice:
seconds per video and the children's CPU seconds per video. It writes the "codec-threads" section of
docs/decoding.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np

from pipelines.decoding import BACKENDS, DecoderPool, IsolatedDecoder, VideoInfo, isolation, open_decoder, probe
from pipelines.decoding.backends import Decoder
from pipelines.encoding import write_video
from pipelines.planning import Snippet, light_frames, plan_snippets

from .common import ROOT, machine, make_footage, write_section


def bench_frames(count: int, height: int, width: int) -> Iterator[np.ndarray]:
    """Smoothly moving content (so inter prediction and B-frames work as on real footage) with a patch
    of random colours seeded by the frame index (so every frame differs from its neighbours)."""
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        base = ((xx * 2 + yy + i * 3) % 256).astype(np.uint8)
        image = np.stack([base, 255 - base, (base // 2 + 64).astype(np.uint8)], axis=-1)
        cells = np.random.default_rng(i).integers(0, 256, (2, 4, 3), dtype=np.uint8)
        patch = np.repeat(np.repeat(cells, height // 8, axis=0), width // 16, axis=1)
        image[: patch.shape[0], : patch.shape[1]] = patch
        yield image


def access_pattern(num_frames: int, fps: float) -> tuple[list[int], list[int]]:
    """64 centre frames (ascending), then 8 selected snippets' frames (every 8th snippet)."""
    plan = plan_snippets(num_frames, fps, num_snippets=64)
    centres = [s.centre_frame for s in plan]
    snippets = [f for s in plan[3::8] for f in s.frame_indices()]
    return centres, snippets


def run_pattern(make: Callable[[], Decoder], centres: list[int], snippets: list[int], size: int) -> float:
    start = time.perf_counter()
    with make() as decoder:
        decoder.frames(centres, size=size)
        decoder.frames(snippets, size=size)
    return time.perf_counter() - start


def run_keyframes(make: Callable[[], Decoder], centres: list[int], size: int) -> float:
    """The fast mode's first pass: the keyframe nearest each centre frame instead of the frame itself."""
    start = time.perf_counter()
    with make() as decoder:
        decoder.keyframe_near(centres, size=size)
    return time.perf_counter() - start


def sequential_reference(path: Path, wanted: set[int]) -> tuple[dict[int, np.ndarray], float, int]:
    """One plain sequential decode: the wanted frames (full size), the time, the frame count."""
    frames: dict[int, np.ndarray] = {}
    start = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for count, frame in enumerate(container.decode(stream), start=1):
            if count - 1 in wanted:
                frames[count - 1] = frame.to_ndarray(format="rgb24")
    return frames, time.perf_counter() - start, count


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
CHILDREN = ("fork server", "pool", "spawn")


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def child_session(source: str, path: Path, pool: DecoderPool, request: Callable[[Decoder], object],
                  probe_only: bool) -> tuple[float, float]:
    """One isolated session (a probe, or the access pattern) with its child taken from ``source``: latency
    and CPU seconds of the caller, the child (until it answered) and the fork server together."""
    server = isolation._ZYGOTE._server
    server_pid = server.pid if server is not None else None
    child_before = _cpu_s(pool._idle[0].process.pid) if source == "pool" and pool._idle else 0.0
    server_before, caller_before, start = _cpu_s(server_pid), time.process_time(), time.perf_counter()
    decoder = IsolatedDecoder(path, "pyav", timeout_s=600, fork=source == "fork server",
                              pool=pool if source == "pool" else None, _probe_only=probe_only)
    request(decoder)
    latency = time.perf_counter() - start
    cpu = time.process_time() - caller_before + _cpu_s(decoder.pid) - child_before + _cpu_s(server_pid) - server_before
    decoder.close()
    return latency, cpu


def children(path: Path, info: VideoInfo, size: int, repeats: int) -> str:
    """The "children" section: a probe and the access pattern through each source of children."""
    centres, snippets = access_pattern(info.num_frames, info.fps)

    def pattern(decoder: Decoder) -> None:
        decoder.frames(centres, size=size)
        decoder.frames(snippets, size=size)

    probe_isolated_warm = IsolatedDecoder(path, "pyav", fork=True, _probe_only=True)  # starts the fork server
    probe_isolated_warm.info  # noqa: B018
    probe_isolated_warm.close()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with DecoderPool(1) as pool:
        for _ in range(repeats):  # interleaved: drift on a shared machine hits every source alike
            for source in CHILDREN:
                for name, request, probe_only in (("probe", lambda d: d.info, True), ("pattern", pattern, False)):
                    deadline = time.monotonic() + 30
                    while source == "pool" and not pool._idle and time.monotonic() < deadline:
                        time.sleep(0.05)  # the pool refills off the critical path: measure a started child
                    results.setdefault((name, source), []).append(
                        child_session(source, path, pool, request, probe_only))
    lines = [
        f"`python -m bench.decoders --children --seconds {info.duration:.0f} --repeats {repeats}` — "
        f"{info.num_frames} frames "
        f"{info.width}×{info.height}; a probe (`probe_isolated`'s request) and the access pattern above "
        f"({len(centres)} centre frames, then {len(snippets) // 8} snippets × 8 frames at size {size}) through a "
        f"child from each source, {repeats} interleaved repeats. Latency: median (min). CPU: mean seconds of the "
        "caller, the child until it answered and the fork server, together (10 ms ticks, so a mean).",
        "",
        "| session | child from | latency median (s) | min (s) | CPU mean (s) |",
        "|---|---|---|---|---|",
    ]
    for (name, source), values in results.items():
        latencies, cpus = [v[0] for v in values], [v[1] for v in values]
        lines.append(f"| {name} | {source} | {statistics.median(latencies):.3f} | {min(latencies):.3f} | "
                     f"{statistics.fmean(cpus):.3f} |")
    lines += ["", f"Machine: {machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}."]
    return "\n".join(lines)


CHOICE = "FFmpeg's choice"


def codec_threads(files: list[Path], size: int, repeats: int) -> str:
    """The "codec-threads" section: the recognizer's requests for each file, dense and gated 25%, two videos at
    once through a pool of two children, whose codecs run on 1 thread and on FFmpeg's choice (0)."""
    from models import DEMO_CHECKPOINT
    from pipelines.recognizer import Recognizer

    requests: dict[Path, dict[str, list[tuple[list[int], bool]]]] = {}  # (frames, deblock) per request
    with Recognizer(DEMO_CHECKPOINT, isolate=False) as recognizer:
        length = recognizer.config.snippet_frames
        for path in files:
            info = probe(path)
            plan, light_pass = recognizer.plan_for(info)  # the plan and light pass the recognizer picks (auto)
            light = (light_frames(plan, info.keyframes) if light_pass == "aligned"
                     else [s.centre_frame for s in plan])  # else ``fast``: the centre frames, deblocking off

            def snippets(chosen: list[Snippet]) -> tuple[list[int], bool]:
                return [f for s in chosen for f in s.frame_indices(length)], True

            requests[path] = {"dense": [snippets(plan[i : i + 16]) for i in range(0, len(plan), 16)],
                              "gated 25%": [(light, light_pass == "aligned"), snippets(plan[::4])]}
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(repeats):  # interleaved: drift on a shared machine hits every setting alike
        for threads in (1, 0):
            with DecoderPool(2, codec_threads=threads) as pool:
                for setting in ("dense", "gated 25%"):
                    def one(path: Path, setting: str = setting, pool: DecoderPool = pool) -> float:
                        with IsolatedDecoder(path, "pyav", timeout_s=600, pool=pool) as decoder:
                            decoder.info  # noqa: B018  (probed: not what the codec threads change)
                            before = _cpu_s(decoder.pid)
                            for frames, deblock in requests[path][setting]:
                                decoder.frames(frames, size=size, deblock=deblock)
                            return _cpu_s(decoder.pid) - before
                    start = time.perf_counter()
                    with ThreadPoolExecutor(max_workers=2) as videos:
                        cpu = sum(videos.map(one, files))
                    results.setdefault((setting, threads), []).append(
                        ((time.perf_counter() - start) / len(files), cpu / len(files)))
    lines = [
        f"`python -m bench.decoders --codec-threads --repeats {repeats}` — {len(files)} five-minute 640×360 files of "
        f"looped real footage (keyframe intervals 60 and 250), each video's requests as the recognizer makes them "
        f"for the demo model (its plan and light pass; dense: every snippet; gated 25%: the light pass's frames, "
        f"then every fourth snippet), at size {size}, two videos at once through a pool of two children, "
        f"{repeats} interleaved repeats (median): wall seconds per video, and the children's CPU seconds per "
        "video (10 ms ticks).",
        "",
        "| requests | codec threads | seconds per video | CPU seconds per video |",
        "|---|---|---|---|",
        *[f"| {setting} | {threads or CHOICE} | {statistics.median(v[0] for v in values):.3f} | "
          f"{statistics.median(v[1] for v in values):.3f} |" for (setting, threads), values in sorted(results.items())],
        "",
        f"Machine: {machine()}, {os.cpu_count()} cores.",
    ]
    return "\n".join(lines)


def _opener(path: Path, name: str, info: VideoInfo) -> Callable[[], Decoder]:
    return lambda: open_decoder(path, name, info=info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--gop", type=int, default=300)
    parser.add_argument("--bframes", type=int, default=2)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--video", type=Path, default=None, help="benchmark this file instead of a generated one")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--children", action="store_true", help="compare where isolated decoders' children come "
                        "from (fork server, pool, spawn); writes docs/decoding.md's section")
    parser.add_argument("--codec-threads", action="store_true", help="pool children's codec threads, one against "
                        "FFmpeg's choice, on real footage; writes docs/decoding.md's section")
    args = parser.parse_args()
    if args.codec_threads:
        files = [make_footage(300, gop) for gop in (60, 250)]
        markdown = codec_threads(files * 2, args.size, args.repeats)
        print(markdown)
        if not args.no_write:
            write_section("codec-threads", markdown, ROOT / "docs" / "decoding.md")
        return

    with tempfile.TemporaryDirectory(prefix="vidgate-bench-") as tmp:
        path = args.video
        encode_s = 0.0
        if path is None:
            path = Path(tmp) / "bench.mp4"
            count = round(args.seconds * args.fps)
            start = time.perf_counter()
            write_video(
                path, bench_frames(count, args.height, args.width), fps=args.fps, gop=args.gop, bframes=args.bframes
            )
            encode_s = time.perf_counter() - start
        info = probe(path)
        if args.children:
            markdown = children(path, info, args.size, max(args.repeats, 10))
            print(markdown)
            if not args.no_write:
                write_section("children", markdown, ROOT / "docs" / "decoding.md")
            return
        centres, snippets = access_pattern(info.num_frames, info.fps)
        reference, sequential_s, decoded = sequential_reference(path, set(centres) | set(snippets))
        assert decoded == info.num_frames, (decoded, info.num_frames)

        makers: dict[str, Callable[[], Decoder]] = {name: _opener(path, name, info) for name in BACKENDS}
        makers["pyav, isolated"] = lambda: IsolatedDecoder(path, "pyav", timeout_s=600, info=info)
        timings: dict[str, list[float]] = {name: [] for name in makers}
        keyframe_timings: dict[str, list[float]] = {name: [] for name in BACKENDS}
        for _ in range(args.repeats):  # interleaved: drift on a shared machine hits every backend alike
            for name, make in makers.items():
                timings[name].append(run_pattern(make, centres, snippets, args.size))
            for name in BACKENDS:
                keyframe_timings[name].append(run_keyframes(makers[name], centres, args.size))

        exact: dict[str, float] = {}
        for name in BACKENDS:
            with open_decoder(path, name, info=info) as decoder:
                equal = 0
                for request in (centres, snippets):
                    frames = decoder.frames(request)
                    equal += sum(np.array_equal(frames[row], reference[i]) for row, i in enumerate(request))
            exact[name] = equal / (len(centres) + len(snippets))
        exact["pyav, isolated"] = exact["pyav"]

    source = (
        f"`{args.video}`"
        if args.video
        else f"generated {args.seconds:g} s {args.width}×{args.height} {args.fps:g} fps H.264, GOP {args.gop}, "
        f"{args.bframes} B-frames (encoded in {encode_s:.1f} s)"
    )
    lines = [
        "## Decoders",
        "",
        f"`python -m bench.decoders{' --seconds ' + format(args.seconds, 'g') if args.seconds != 300 else ''}` — "
        f"{source}; {info.num_frames} frames. Pattern: {len(centres)} centre frames, then "
        f"{len(snippets) // 8} snippets × 8 frames, at size {args.size}; {args.repeats} interleaved repeats "
        f"(median, min). Exact: fraction of the pattern's frames equal to a sequential decode.",
        "",
        "| backend | pattern median (s) | min (s) | vs full sequential decode | exact |",
        "|---|---|---|---|---|",
    ]
    for name, values in timings.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.2f} | {min(values):.2f} | {median / sequential_s:.2f}× | {exact[name]:.3f} |"
        )
    lines += [
        "",
        "Fast mode, first pass only (the keyframe at or before each of the 64 centre frames):",
        "",
        "| backend | keyframe pass median (s) | min (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {statistics.median(v):.2f} | {min(v):.2f} |" for name, v in keyframe_timings.items()]
    lines += [
        "",
        f"Full sequential PyAV decode of all {info.num_frames} frames (no conversion kept): "
        f"{sequential_s:.2f} s. Machine: {machine()}.",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_write:
        write_section("decoders", markdown)


if __name__ == "__main__":
    main()
