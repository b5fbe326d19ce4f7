"""The API's intake under hostile input and load: bad files, bad requests, schemathesis, concurrent and trickling
uploads, and the API process's memory after hostile uploads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from service.errors import http_status
from tests.pipelines.hostile import Hostile, write_hostile_files

from .harness import Bench, Server, open_files, percentile, private_redis, rss_bytes, run, settle, submit

KEY = "reliability-key"
HEADERS = {"X-API-Key": KEY}
LIMIT = 5_000_000  # upload size limit of the intake server: the oversized cases stay cheap


def intake_server(bench: Bench) -> Server:
    settings = bench.settings("intake", api_keys=[KEY], max_upload_bytes=LIMIT, upload_idle_timeout_s=3.0,
                              workers=1)
    server = Server(settings, bench.folder("intake"), {"VIDGATE_TEST_SLOW_S": "20"})
    server.client.headers.update(HEADERS)
    return server.start()


def bad_files(bench: Bench, server: Server) -> dict[str, Any]:
    """Every hostile file uploaded once: its HTTP status and error code."""
    rows = []
    for hostile in write_hostile_files(bench.folder("hostile")):
        with hostile.path.open("rb") as f:
            r = server.client.post("/v1/jobs", files={"file": (hostile.name, f, "application/octet-stream")})
        code = _code(r)
        rows.append({"file": hostile.name, "what": hostile.what, "status": r.status_code, "code": code,
                     "expected": hostile.code,
                     "ok": code == hostile.code and r.status_code == http_status(hostile.code) and r.status_code < 500})
    return {"rows": rows, "healthy_after": _healthy(bench, server)}


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "—"


def _healthy(bench: Bench, server: Server) -> bool:
    """Ready, and a good video still goes through."""
    if server.client.get("/readyz").status_code != 200:
        return False
    job_id = submit(server.client, bench.files.good)
    return (settle(server.client, [job_id], 120).get(job_id) or {}).get("status") == "succeeded"


def _multipart(fields: list[tuple[str, str | None, bytes]], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b""
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _raw(port: int, head: bytes, body: bytes, *, close: bool = False, wait: float = 15.0) -> tuple[int, str]:
    """Send a hand-made request; returns (status, error code) or (0, reason) when no answer came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        sock.sendall(head + body)
        if close:
            return 0, "closed by the client"
        data = sock.recv(65536)
        while b"\r\n\r\n" in data and len(data) < 65536:
            head_end = data.index(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in data[:head_end].split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(data) >= head_end + 4 + length:
                break
            more = sock.recv(65536)
            if not more:
                break
            data += more
    except OSError as exc:
        return 0, type(exc).__name__
    finally:
        sock.close()
    if not data.startswith(b"HTTP/1.1 "):
        return 0, "no response"
    status = int(data[9:12])
    try:
        code = json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"]
    except (ValueError, KeyError, IndexError):
        code = "—"
    return status, str(code)


def bad_requests(bench: Bench, server: Server) -> dict[str, Any]:
    """At least 30 malformed or refused requests, each with the status and code it must get."""
    c, port, good = server.client, server.port, bench.files.good.read_bytes()
    jobs_url = f"http://127.0.0.1:{port}/v1/jobs"
    running = submit(c, bench.files.slow)  # stays running (slow decoder) for the 409 case; cancelled below
    finished = submit(c, bench.files.good)
    settle(c, [finished], 120)
    key = f"X-API-Key: {KEY}\r\n".encode()

    def upload(fields: list[tuple[str, str | None, bytes]], url: str = "/v1/jobs", **kw: Any) -> httpx.Response:
        body, ctype = _multipart(fields)
        return c.post(url, content=body, headers={"content-type": ctype, **kw.pop("headers", {})}, **kw)

    def head(length: int | None, extra: bytes = b"") -> bytes:
        size = b"Content-Length: %d\r\n" % length if length is not None else b"Transfer-Encoding: chunked\r\n"
        return (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n" + key + size +
                b"Content-Type: multipart/form-data; boundary=b\r\n" + extra + b"\r\n")

    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n\r\n'
    cases: list[tuple[str, int, str, Callable[[], tuple[int, str]]]] = [
        ("no API key", 401, "unauthorized", lambda: _resp(httpx.get(jobs_url))),
        ("wrong API key", 403, "forbidden", lambda: _resp(httpx.get(jobs_url, headers={"X-API-Key": "nope"}))),
        ("JSON body instead of multipart", 415, "unsupported_media_type",
         lambda: _resp(c.post("/v1/jobs", json={"file": "x"}))),
        ("multipart without a boundary", 415, "unsupported_media_type",
         lambda: _resp(c.post("/v1/jobs", content=b"x", headers={"content-type": "multipart/form-data"}))),
        ("empty form (no file part)", 400, "bad_request", lambda: _resp(upload([]))),
        ("only option fields", 400, "bad_request", lambda: _resp(upload([("budget", None, b"0.5")]))),
        ("body cut before its closing boundary", 400, "bad_request",
         lambda: _resp(c.post("/v1/jobs", content=_multipart([("file", "v.mp4", good)])[0][:-12],
                              headers={"content-type": "multipart/form-data; boundary=b0undary"}))),
        ("two file parts", 400, "bad_request",
         lambda: _resp(upload([("file", "a.mp4", good), ("file", "b.mp4", good)]))),
        ("a form field over 4 KB", 400, "bad_request",
         lambda: _resp(upload([("mode", None, b"g" * 5000), ("file", "v.mp4", good)]))),
        ("33 form fields", 400, "bad_request",
         lambda: _resp(upload([(f"f{i}", None, b"1") for i in range(33)] + [("file", "v.mp4", good)]))),
        ("unknown option field", 400, "bad_options", lambda: _resp(upload([("colour", None, b"red"),
                                                                            ("file", "v.mp4", good)]))),
        ("budget 2", 400, "bad_options", lambda: _resp(upload([("budget", None, b"2"), ("file", "v.mp4", good)]))),
        ("budget abc", 400, "bad_options", lambda: _resp(upload([("budget", None, b"abc"), ("file", "v.mp4", good)]))),
        ("top_k 0", 400, "bad_options", lambda: _resp(upload([("top_k", None, b"0"), ("file", "v.mp4", good)]))),
        ("mode xyz", 400, "bad_options", lambda: _resp(upload([("mode", None, b"xyz"), ("file", "v.mp4", good)]))),
        ("threshold -1", 400, "bad_options", lambda: _resp(upload([("threshold", None, b"-1"),
                                                                    ("file", "v.mp4", good)]))),
        ("unknown query option", 400, "bad_options", lambda: _resp(c.post("/v1/jobs?foo=1", content=b"",
                                                                            headers={"content-type": "text/plain"}))),
        ("non-Latin-1 field name", 400, "bad_options", lambda: _resp(upload([("budgét", None, b"0.5"),
                                                                             ("file", "v.mp4", good)]))),
        ("Content-Length of 10 GB", 413, "file_too_large", lambda: _raw(port, head(10 * 1024**3), b"")),
        ("chunked upload past the limit", 413, "file_too_large", lambda: _chunked_oversize(port, head(None), part)),
        ("upload that goes silent", 408, "upload_timeout", lambda: _raw(port, head(100_000), part + b"x" * 100)),
        ("cursor abc", 400, "bad_cursor", lambda: _resp(c.get("/v1/jobs", params={"cursor": "abc"}))),
        ("cursor 1e3", 400, "bad_cursor", lambda: _resp(c.get("/v1/jobs", params={"cursor": "1e3"}))),
        ("cursor -1", 400, "bad_cursor", lambda: _resp(c.get("/v1/jobs", params={"cursor": "-1"}))),
        ("cursor of 300 characters", 422, "validation_error", lambda: _resp(c.get("/v1/jobs",
                                                                                  params={"cursor": "9" * 300}))),
        ("limit 0", 422, "validation_error", lambda: _resp(c.get("/v1/jobs", params={"limit": 0}))),
        ("limit 1000", 422, "validation_error", lambda: _resp(c.get("/v1/jobs", params={"limit": 1000}))),
        ("limit abc", 422, "validation_error", lambda: _resp(c.get("/v1/jobs", params={"limit": "abc"}))),
        ("status bogus", 422, "validation_error", lambda: _resp(c.get("/v1/jobs", params={"status": "bogus"}))),
        ("unknown job", 404, "not_found", lambda: _resp(c.get("/v1/jobs/no-such-job"))),
        ("job id of 500 characters", 404, "not_found", lambda: _resp(c.get("/v1/jobs/" + "a" * 500))),
        ("DELETE unknown job", 404, "not_found", lambda: _resp(c.delete("/v1/jobs/no-such-job"))),
        ("cancel a finished job", 409, "job_finished", lambda: _resp(c.post(f"/v1/jobs/{finished}/cancel"))),
        ("snippet 999", 404, "not_found", lambda: _resp(c.get(f"/v1/jobs/{finished}/snippets/999/thumbnail"))),
        ("snippet -1", 404, "not_found", lambda: _resp(c.get(f"/v1/jobs/{finished}/snippets/-1/clip"))),
        ("snippet abc", 422, "validation_error", lambda: _resp(c.get(f"/v1/jobs/{finished}/snippets/abc/clip"))),
        ("clip of a running job", 409, "job_not_finished",
         lambda: _resp(c.get(f"/v1/jobs/{running}/snippets/0/clip"))),
        ("PUT /v1/jobs", 405, "method_not_allowed", lambda: _resp(c.put("/v1/jobs"))),
        ("unknown route", 404, "not_found", lambda: _resp(c.get("/v2/anything"))),
        ("classify timeout -1", 422, "validation_error",
         lambda: _resp(upload([("file", "v.mp4", good)], url="/v1/classify?timeout=-1"))),
        ("Idempotency-Key of 300 characters", 422, "validation_error",
         lambda: _resp(upload([("file", "v.mp4", good)], headers={"Idempotency-Key": "k" * 300}))),
    ]
    rows = []
    for name, status, code, call in cases:
        got_status, got_code = call()
        rows.append({"request": name, "status": got_status, "code": got_code, "expected": f"{status} {code}",
                     "ok": (got_status, got_code) == (status, code)})
    # A client that disconnects mid-upload gets no answer; the server logs a client error and keeps nothing.
    before = server.logs().count("upload aborted")
    _raw(port, head(1_000_000), part + b"y" * 50_000, close=True)
    time.sleep(1.0)
    logged = server.logs().count("upload aborted") > before
    rows.append({"request": "client disconnects mid-upload", "status": 0, "code": "upload_aborted (logged)",
                 "expected": "a 4xx-class log line, nothing kept", "ok": logged})
    c.delete(f"/v1/jobs/{running}")
    leftovers = [p.name for p in (Path(server.settings.storage_root) / "jobs").rglob("*.part-*")]
    return {"rows": rows, "partial_files_left": len(leftovers), "healthy_after": _healthy(bench, server),
            "tracebacks_in_log": server.logs().count("Traceback")}


def _resp(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, _code(r)


def _chunked_oversize(port: int, head: bytes, part: bytes) -> tuple[int, str]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        chunk = b"\0" * 65536
        for _ in range(4 * LIMIT // len(chunk)):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        data = sock.recv(65536)
    except OSError:
        data = sock.recv(65536)
    finally:
        sock.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    try:
        return status, str(json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"])
    except (ValueError, KeyError, IndexError):
        return status, "—"


SCHEMATHESIS_SECONDS = 300  # the full run's time budget
SCHEMATHESIS_EXAMPLES = 10  # the short run: cases per operation and phase
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS_HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SERVER_ERROR = "ST101"  # schemathesis's code for a 5xx answer; every other failure is a break of the contract


def schemathesis(bench: Bench, server: Server) -> dict[str, Any]:
    """``schemathesis run --checks all`` against the live app's /openapi.json with an API key and a fixed seed:
    all four phases (examples, coverage, fuzzing, stateful), 300 s in the full run, a few cases per operation in the
    short one. Valid uploads are real videos (`schemathesis_hooks`); a cursor may be refused as a job id may be
    (``schemathesis.toml``)."""
    report = bench.folder("schemathesis") / "report.json"
    budget = (["--max-examples", str(SCHEMATHESIS_EXAMPLES)] if bench.quick
              else ["--max-time", str(SCHEMATHESIS_SECONDS)])
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(SCHEMATHESIS_CONFIG), "run",
           f"http://127.0.0.1:{server.port}/openapi.json", "--checks", "all", *budget, "--seed", "14",
           "--no-color", "--workers", "2", "-H", f"X-API-Key: {KEY}", "--report", "json",
           "--report-json-path", str(report), "--request-timeout", "60"]
    dropped = report.parent / "dropped.jsonl"  # valid requests schemathesis took for invalid ones (hooks)
    env = {**server.env, "SCHEMATHESIS_HOOKS": str(SCHEMATHESIS_HOOKS),
           "VIDGATE_SCHEMATHESIS_VIDEOS": str(bench.files.good), "VIDGATE_SCHEMATHESIS_DROPPED": str(dropped)}
    start = time.monotonic()
    done = run(cmd, env, timeout=3600, cwd=report.parent)  # its example cache stays in the scratch folder
    seconds = time.monotonic() - start
    (report.parent / "output.txt").write_text(done.stdout + done.stderr)  # each failure with its reproduction
    if not report.exists():
        raise RuntimeError(f"schemathesis wrote no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    data = json.loads(report.read_text())
    failures = [{"code": f["code"], "title": f["title"], "count": f["count"], "operations": f["operations"]}
                for f in data["failures"]]
    budget_text = f"{SCHEMATHESIS_EXAMPLES} examples per operation" if bench.quick else f"{SCHEMATHESIS_SECONDS} s"
    return {"checks": "all", "budget": budget_text, "seed": 14,
            "cases": data["test_cases"]["generated"],
            "server_errors": sum(f["count"] for f in failures if f["code"] == SERVER_ERROR),
            "contract_failures": sum(f["count"] for f in failures if f["code"] != SERVER_ERROR),
            "failures": failures, "errors": len(data["errors"]), "seconds": round(seconds, 1),
            "valid_requests_not_counted": data.get("filtered", 0),
            "not_counted": [json.loads(line) for line in dropped.read_text().splitlines()] if dropped.exists() else [],
            "exit_code": done.returncode, "healthy_after": _healthy(bench, server)}


def memory(bench: Bench, server: Server) -> dict[str, Any]:
    """API RSS and open files before and after 100 hostile uploads (16 at a time), sampled while they run."""
    count = 30 if bench.quick else 100
    hostile = [h for h in write_hostile_files(bench.folder("hostile-memory")) if h.code != "empty_file"]
    bomb = next(h for h in hostile if h.name == "self_concat.mp4")

    client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=HEADERS, timeout=120)

    def upload(h: Hostile) -> int:
        with h.path.open("rb") as f:
            return client.post("/v1/jobs", files={"file": ("input", f)}).status_code

    for h in hostile[:10]:  # warm-up: first imports and allocations of the intake path
        upload(h)
    client.close()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=HEADERS, timeout=120)
    before, files_before = rss_bytes(server.pid), open_files(server.pid)
    peak, stop = before, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.1):
            peak = max(peak, rss_bytes(server.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    plan = [bomb if i % 4 == 0 else hostile[i % len(hostile)] for i in range(count)]  # a quarter are the bomb
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(upload, plan))
    stop.set()
    sampler.join()
    client.close()  # its kept-alive connections are open files of the server too
    time.sleep(1.0)
    after, files_after = rss_bytes(server.pid), open_files(server.pid)
    return {"uploads": count, "parallel": 16, "self_referencing_concat": plan.count(bomb),
            "rss_before_mb": round(before / 2**20, 1), "rss_after_mb": round(after / 2**20, 1),
            "rss_peak_mb": round(peak / 2**20, 1), "growth_pct": round(100 * (after - before) / before, 1),
            "open_files_before": files_before, "open_files_after": files_after,
            "server_errors": sum(1 for s in statuses if s >= 500), "all_4xx": all(400 <= s < 500 for s in statuses)}


def load(bench: Bench) -> dict[str, Any]:
    """200 concurrent uploads, then 20 trickling clients next to ordinary uploads (intake only: Redis mode, no
    workers, so the API's own capacity is measured)."""
    concurrent, tricklers, sequential = (40, 8, 8) if bench.quick else (200, 20, 20)
    folder = bench.folder("load")
    with private_redis(folder / "redis", persistent=False) as redis:
        settings = bench.settings("load", redis_url=redis.url, redis_prefix="vg:")
        server = Server(settings, folder).start(ready=False)
        try:
            video = bench.files.good.read_bytes()
            burst = asyncio.run(_burst(str(server.client.base_url), video, concurrent))
            baseline = _sequential(server.client, video, sequential)
            socks, stop = _trickle(server.port, tricklers)
            try:
                time.sleep(1.0)
                during = _sequential(server.client, video, sequential)
            finally:
                stop.set()
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.close()
            healthy = server.client.get("/healthz").status_code == 200
        finally:
            server.stop()
    return {"concurrent": concurrent, "burst": burst, "tricklers": tricklers, "baseline": baseline, "during": during,
            "slowdown_p50": round(during["p50_s"] / baseline["p50_s"], 2) if baseline["p50_s"] else None,
            "healthy_after": healthy, "bytes": len(video)}


async def _burst(base: str, video: bytes, n: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        async def one(i: int) -> tuple[int, float]:
            start = time.monotonic()
            try:
                r = await client.post("/v1/jobs", files={"file": (f"v{i}.mp4", video, "video/mp4")})
                return r.status_code, time.monotonic() - start
            except httpx.HTTPError:
                return 0, time.monotonic() - start

        start = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.monotonic() - start
    return _latencies(results) | {"wall_s": round(wall, 1)}


def _sequential(client: httpx.Client, video: bytes, n: int) -> dict[str, Any]:
    results = []
    for i in range(n):
        start = time.monotonic()
        r = client.post("/v1/jobs", files={"file": (f"s{i}.mp4", video, "video/mp4")})
        results.append((r.status_code, time.monotonic() - start))
    return _latencies(results)


def _latencies(results: list[tuple[int, float]]) -> dict[str, Any]:
    times = [t for _, t in results]
    return {"n": len(results), "accepted": sum(1 for s, _ in results if s == 202),
            "5xx": sum(1 for s, _ in results if s >= 500), "no_answer": sum(1 for s, _ in results if s == 0),
            "p50_s": round(percentile(times, 0.5), 3), "p95_s": round(percentile(times, 0.95), 3)}


def _trickle(port: int, n: int) -> tuple[list[socket.socket], threading.Event]:
    """``n`` uploads that send one byte every second (slow clients on a bad link)."""
    socks = []
    head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.mp4"\r\n\r\n')
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(head)
        socks.append(sock)
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(1.0):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"\0")

    threading.Thread(target=feed, daemon=True).start()
    return socks, stop
