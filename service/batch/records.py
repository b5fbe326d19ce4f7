"""Batch records: one per video, appended atomically (JSONL or CSV), and the resume index.

A record is written with a single ``os.write`` of a whole line to a file opened with ``O_APPEND``, so
Ctrl-C or a kill never leaves half a record; a torn last line from an older crash is cut off on
start. Records are keyed by content hash + model + options: re-running the same command skips what
is done, ``--retry-failed`` runs the failures again (the last record of a key wins).

A JSONL record is `vidgate classify --json`'s line for the same file (the result, docs/result.schema.json;
or ``{video, error}`` for a file that failed) with the batch's bookkeeping around it (`BOOKKEEPING`):
one shape for the CLI, the API's result and batch (docs/batch.md).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

CSV_FIELDS = ["source", "status", "label", "score", "top3", "selected", "snippets", "gflops", "gflops_dense",
              "saved_fraction", "seconds", "error_code", "error_message", "sha256", "key"]
# What a batch adds to `vidgate classify --json`'s line (a result, or ``{video, error}``): its bookkeeping.
BOOKKEEPING = ("source", "sha256", "key", "status", "error")


def record_key(sha256: str | None, model: str, options: dict[str, Any], source: str) -> str:
    """Content hash + model + options (the source name only when the content could not be read)."""
    payload = json.dumps({"sha256": sha256 or f"unread:{source}", "model": model, "options": options}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def ok_record(source: str, sha256: str, key: str, result: dict[str, Any]) -> dict[str, Any]:
    """The result as it is (docs/result.schema.json: every snippet, ``video`` the file's name) with the
    batch's bookkeeping around it."""
    return {"source": source, "sha256": sha256, "key": key, "status": "ok", "error": None, **result}


def error_record(source: str, sha256: str | None, key: str, code: str, message: str) -> dict[str, Any]:
    """`vidgate classify --json`'s error line (``video``: the file's name; ``error``: the API's error body)
    with the batch's bookkeeping."""
    return {"source": source, "sha256": sha256, "key": key, "status": "error", "video": video_name(source),
            "error": {"code": code, "message": message}}


def skipped_record(source: str, key: str, code: str, message: str) -> dict[str, Any]:
    """An input left out on purpose (`service.batch.sources.SKIP_REASONS`): named, with why."""
    return {**error_record(source, None, key, code, message), "status": "skipped"}


def video_name(source: str) -> str:
    """The name a source's result gives as ``video``: the file's name (an archive member's, after ``!``)."""
    return PurePath(source.rsplit("!", 1)[-1]).name or source


def csv_row(record: dict[str, Any]) -> dict[str, Any]:
    labels, compute, error = record.get("labels") or [], record.get("compute") or {}, record["error"] or {}
    return {
        "source": record["source"], "status": record["status"],
        "label": labels[0]["label"] if labels else "", "score": labels[0]["score"] if labels else "",
        "top3": "|".join(f"{lab['label']}:{lab['score']:.3f}" for lab in labels[:3]),
        "selected": compute.get("snippets_selected", ""), "snippets": compute.get("snippets_total", ""),
        "gflops": compute.get("gflops", ""), "gflops_dense": compute.get("gflops_dense", ""),
        "saved_fraction": compute.get("gflops_saved_fraction", ""),
        "seconds": (record.get("timings") or {}).get("total", ""),
        "error_code": error.get("code", ""), "error_message": error.get("message", ""),
        "sha256": record["sha256"] or "", "key": record["key"],
    }


@dataclass
class Output:
    """The output file: what is already done, and atomic appends."""

    path: Path
    format: str = "jsonl"

    def __post_init__(self) -> None:
        if self.format not in ("jsonl", "csv"):
            raise ValueError(f"format must be jsonl or csv, got {self.format!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        self.done: dict[str, str] = self._read_index()
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if fresh and self.format == "csv":
            self._write_line(",".join(CSV_FIELDS) + "\n")

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as f:
                f.truncate(keep)

    def _read_index(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        done: dict[str, str] = {}
        with self.path.open(newline="") as f:
            if self.format == "jsonl":
                for line in f:
                    if line.strip():
                        record = json.loads(line)
                        done[record["key"]] = record["status"]
            else:
                for row in csv.DictReader(f):
                    done[row["key"]] = row["status"]
        return done

    def _write_line(self, line: str) -> None:
        data = line.encode()
        written = os.write(self._fd, data)
        if written != len(data):  # a regular file takes the whole line; anything else is a real failure
            raise OSError(f"short write to {self.path}")

    def write(self, record: dict[str, Any]) -> None:
        if self.format == "jsonl":
            line = json.dumps(record, separators=(",", ":")) + "\n"
        else:
            buffer = io.StringIO()
            csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n").writerow(csv_row(record))
            line = buffer.getvalue()
        self._write_line(line)
        self.done[record["key"]] = record["status"]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The final record per key of a JSONL output (later records replace earlier ones)."""
    latest: dict[str, dict[str, Any]] = {}
    with path.open() as f:
        for line in f:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line
                latest[record["key"]] = record
    return list(latest.values())
