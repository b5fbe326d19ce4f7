"""The process that faces the internet stays small: in Redis mode the API never imports torch,
also while it takes an upload, describes the model, reads its concept examples and serves the OpenAPI document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..helpers import tiny_checkpoint, write_test_video
from .api_support import ROOT
from .redis_server import REDIS_URL

SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from service.api.app import create_app
from service.config import Settings

settings = Settings(redis_url=sys.argv[1], redis_prefix=sys.argv[2], data_dir=sys.argv[3], checkpoint=sys.argv[4])
with TestClient(create_app(settings)) as client:
    statuses = [client.get("/v1/models").status_code, client.get("/openapi.json").status_code]
    with open(sys.argv[5], "rb") as f:
        statuses.append(client.post("/v1/jobs", files={"file": ("clip.mp4", f, "video/mp4")},
                                    data={"budget": "0.5"}).status_code)
    statuses.append(client.get("/v1/jobs").status_code)
    statuses.append(client.get("/v1/models/tiny-test/concepts/0").status_code)  # no examples stored: 404
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "pytorchvideo"))
print(json.dumps({"statuses": statuses, "heavy": heavy[:5]}))
"""


def test_redis_mode_api_never_imports_torch(tmp_path: Path, redis_prefix: str) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "tiny.safetensors")
    video = write_test_video(tmp_path / "clip.mp4", frames=48)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, REDIS_URL, redis_prefix, str(tmp_path / "data"), str(checkpoint), str(video)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("VIDGATE_")},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200, 202, 200, 404]
    assert report["heavy"] == []
