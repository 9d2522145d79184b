"""Every pointer into the docs (in code, `.env`, Compose files, scripts, messages and the docs
themselves) names a page that exists and, where it names a section, a heading on that page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# "docs/security.md" or "docs/failure-modes.md#deadlines", anywhere in a tracked file.
DOC_POINTER = re.compile(r"\bdocs/([a-z0-9-]+\.md)(#[a-z0-9-]+)?")
# The README's old form, "README, Security": the section must be one of README's headings.
README_POINTER = re.compile(r"README(?:\.md)?, ([A-Z][A-Za-z0-9' ]+)")
# A Markdown link to a local file: [text](page.md#anchor) or [text](#anchor).
LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]*)\)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = []
    for name in names.stdout.splitlines():
        path = ROOT / name
        if name.startswith("tests/unit/test_doc_references") or not path.is_file():
            continue
        try:
            path.read_text()
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings (fenced code is not a heading)."""
    found, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6} (.+)$", line)):
            found.add(slug(match[1]))
    return found


def broken(pointers: list[tuple[Path, str, str]]) -> list[str]:
    """``pointers`` of (from, page, anchor) that lead nowhere, as "from: page#anchor"."""
    bad = []
    for source, page, anchor in pointers:
        target = (source.parent / page).resolve() if page else source
        if not target.is_file():
            bad.append(f"{source.relative_to(ROOT)}: {page} does not exist")
        elif anchor and anchor not in anchors(target):
            bad.append(f"{source.relative_to(ROOT)}: {page or target.name}#{anchor} names no heading")
    return bad


def test_slugs_follow_github():
    assert slug("MinIO's 2026 advisories") == "minios-2026-advisories"
    assert slug("Seeding: the seeder against `mc mirror`") == "seeding-the-seeder-against-mc-mirror"
    assert slug("Scaling out: ranks x workers") == "scaling-out-ranks-x-workers"


def test_every_docs_pointer_names_a_page_and_heading_that_exist():
    pointers = []
    for path in tracked_text_files():
        for match in DOC_POINTER.finditer(path.read_text()):
            pointers.append((path, str(ROOT / "docs" / match[1]), (match[2] or "#")[1:]))
    assert len(pointers) > 20, "the code points into docs/"
    assert broken(pointers) == []


def test_every_markdown_link_in_the_docs_leads_somewhere():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pointers = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            file, _, anchor = target.partition("#")
            pointers.append((page, file, anchor))
    assert len(pointers) > 10
    assert broken(pointers) == []


def test_no_pointer_names_a_readme_section_that_is_gone():
    headings = anchors(ROOT / "README.md")
    stale = [
        f"{path.relative_to(ROOT)}: README, {match[1]}"
        for path in tracked_text_files()
        for match in README_POINTER.finditer(path.read_text())
        if slug(match[1]) not in headings
    ]
    assert stale == []


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_every_page_opens_with_what_a_reader_can_do_with_it(page):
    lines = (ROOT / "docs" / page).read_text().splitlines()
    assert lines[0].startswith("# "), lines[0]
    opening = lines[2]
    assert opening and not opening.startswith(("#", "|", "```", "-")), opening
    assert page in (ROOT / "README.md").read_text(), f"README's Where next does not lead to {page}"
