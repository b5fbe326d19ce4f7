"""``/docs`` and ``/redoc`` work offline: every script, style and icon they load is served by vidgate itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # No `with`: the lifespan (model, workers) is not needed to serve the documentation pages.
    return TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("docs"), redis_url=None)))


@pytest.mark.parametrize(("page", "kind"), [("/docs", "swagger"), ("/redoc", "redoc")])
def test_documentation_pages_load_nothing_from_the_network(client: TestClient, page: str, kind: str) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "http://" not in html and "https://" not in html, "the page names an outside address"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200, asset
        assert len(got.content) > 1000, asset
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts and kind in Path(scripts[0]).name.lower()
    assert "/openapi.json" in html
