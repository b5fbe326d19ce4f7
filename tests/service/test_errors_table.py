"""One table of error codes: docs/errors.md is generated from it, and every code the code raises is in it."""

from __future__ import annotations

import re
from pathlib import Path

from service.errors import ERRORS, errors_markdown

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r'(?:\bcode\s*=\s*|ApiError\(\s*|error_record\([^)]*?, )"([a-z][a-z_]+)"')


def test_docs_page_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "errors.md").read_text() == errors_markdown()


def test_every_raised_code_is_in_the_table() -> None:
    raised = set()
    for package in ("models", "pipelines", "service"):
        for path in (ROOT / package).rglob("*.py"):
            raised |= set(RAISED.findall(path.read_text()))
    assert raised, "the pattern found nothing: it no longer matches how codes are raised"
    assert sorted(raised - set(ERRORS)) == []
