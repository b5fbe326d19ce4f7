"""The viewer page in a real headless Chromium (Debian's), driven by Playwright, against a real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .api_support import make_files, server, settings_for

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)"
    ),
]


def test_upload_watch_result_timeline_and_play_a_clip(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    files = make_files(tmp_path / "files")
    settings = settings_for(tmp_path / "data", files, decoder="pyav")
    ARTIFACTS.mkdir(exist_ok=True)
    with server(settings, tmp_path / "server.log") as (_, client), sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(str(client.base_url) + "/")
        page.get_by_test_id("file-input").set_input_files(str(files.good))
        page.get_by_test_id("budget").select_option("0.25")
        page.get_by_test_id("upload").click()
        page.wait_for_url("**/jobs/*", timeout=30_000)
        expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)

        cells = page.get_by_test_id("snippet-cell")
        expect(cells).to_have_count(12)  # 96 frames / 8
        selected = page.locator("[data-testid=snippet-cell][data-selected=true]")
        expect(selected).to_have_count(3)  # ceil(25% of 12)
        assert "gate score" in (cells.first.get_attribute("title") or "")
        expect(page.get_by_test_id("label")).to_have_count(3)
        thumbs = page.get_by_test_id("thumb")
        expect(thumbs).to_have_count(3)
        page.wait_for_function(
            "[...document.querySelectorAll('[data-testid=thumb] img')].every(i => i.complete && i.naturalWidth > 0)",
            timeout=30_000,
        )
        assert "compute saved" in page.get_by_test_id("compute").inner_text()

        second = thumbs.nth(1)
        index = second.get_attribute("data-index")
        second.click()
        clip = page.get_by_test_id("clip")
        expect(clip).to_have_attribute("data-index", index or "")
        # The clip loads (metadata with the snippet's size) and plays: its time advances.
        page.wait_for_function("document.getElementById('clip').readyState >= 2", timeout=30_000)
        assert page.evaluate("document.getElementById('clip').videoWidth") == 64
        page.wait_for_function("document.getElementById('clip').currentTime > 0", timeout=30_000)
        expect(page.get_by_test_id("concept").first).to_contain_text("concept kernel")
        page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)

        page.goto(str(client.base_url) + "/")
        expect(page.get_by_test_id("job-row")).to_have_count(1)
        expect(page.locator("[data-testid=job-row][data-status=succeeded]")).to_have_count(1)
        browser.close()
    assert not errors, errors
