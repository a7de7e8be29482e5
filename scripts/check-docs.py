#!/usr/bin/env python3
"""Builds the documentation site (mdBook over docs/) and checks it offline.

1. `mdbook build` must succeed without warnings (book.toml: a chapter missing from docs/ is an
   error; a bare `<word>` in prose is an unclosed HTML tag that hides text).
2. Every internal link of every built page must reach a page of the book, and its `#anchor`
   an element with that id on that page. External links (http, https, mailto) are not
   followed: the check runs without a network.
3. Every test named in the docs as `path/to/file.rs::function_name` must exist: the file, and a
   `fn function_name` in it. The compliance mappings cite the tests that prove each row this
   way, so a renamed or deleted test fails here.
4. Every row of the compliance mappings' tables names at least one test, and every `certctl …`
   command cited there must be a real subcommand of the command-line client
   (`certctl <subcommand> --help` succeeds), when the client is built.

Usage: scripts/check-docs.py [--no-build]   (--no-build checks an existing target/book/)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BOOK = ROOT / "target" / "book"
CLI = ROOT / "target" / "debug" / "certctl"
# mdBook's own pages, not chapters: the print page repeats every chapter (its links are
# rewritten to in-page anchors, checked through the chapters themselves), the others are
# generated navigation.
SKIP_PAGES = {"print.html", "toc.html", "404.html"}
TEST_REF = re.compile(r"`([A-Za-z0-9_./-]+\.rs)::([A-Za-z_][A-Za-z0-9_]*)`")
CLI_REF = re.compile(r"`(certctl [^`]+)`")


class Page(HTMLParser):
    """Collects the ids a page defines and the links it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "img"):
                self.links.append(a[key])


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def build() -> list[str]:
    """Builds the book; its warnings are problems too (an unclosed HTML tag, such as a bare
    `<id>` in prose, swallows the text after it on the rendered page)."""
    try:
        run = subprocess.run(["mdbook", "build"], cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(
            "mdbook is not installed: cargo install mdbook --version 0.5.4 --locked "
            "--no-default-features --features search"
        )
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        sys.exit(f"mdbook build failed (exit {run.returncode})")
    return [f"mdbook: {line.strip()}" for line in run.stderr.splitlines() if " WARN " in f" {line} "]


def check_links() -> list[str]:
    pages = {
        p: parse(p)
        for p in BOOK.rglob("*.html")
        if p.relative_to(BOOK).as_posix() not in SKIP_PAGES
    }
    if not pages:
        return [f"no pages in {BOOK}: did mdbook build run?"]
    errors = []
    checked = 0
    for path, page in sorted(pages.items()):
        here = path.relative_to(BOOK).as_posix()
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue  # external: not checked offline
            checked += 1
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(BOOK):
                errors.append(f"{here}: link {link!r} leaves the book")
                continue
            if not target.exists():
                errors.append(f"{here}: link {link!r}: no such page or file")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if fragment not in ids:
                    errors.append(f"{here}: link {link!r}: no anchor #{fragment} in that page")
    print(f"check-docs: {len(pages)} pages, {checked} internal links checked")
    return errors


def markdown_files() -> list[Path]:
    return sorted(DOCS.rglob("*.md")) + [ROOT / "README.md", ROOT / "CHANGELOG.md"]


def check_test_refs() -> list[str]:
    errors = []
    count = 0
    for md in markdown_files():
        if not md.exists():
            continue
        for line_no, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            for file, name in TEST_REF.findall(line):
                count += 1
                where = f"{md.relative_to(ROOT)}:{line_no}"
                source = ROOT / file
                if not source.is_file():
                    errors.append(f"{where}: test file {file} does not exist")
                elif not re.search(rf"\bfn {re.escape(name)}\b", source.read_text(encoding="utf-8")):
                    errors.append(f"{where}: no `fn {name}` in {file}")
    print(f"check-docs: {count} test references checked")
    return errors


def check_compliance_rows() -> list[str]:
    """Each control in the compliance tables is backed by a test (checked to exist above)."""
    compliance = DOCS / "compliance.md"
    if not compliance.exists():
        return [f"{compliance.relative_to(ROOT)} is missing"]
    errors = []
    rows = 0
    for line_no, line in enumerate(compliance.read_text(encoding="utf-8").splitlines(), 1):
        cells = line.strip()
        if not cells.startswith("|") or re.fullmatch(r"[|\s:-]+", cells) or cells.startswith("| Control"):
            continue
        rows += 1
        if not TEST_REF.search(line):
            errors.append(f"docs/compliance.md:{line_no}: a table row names no test")
    print(f"check-docs: {rows} compliance rows checked")
    return errors


def cli_words(command: str) -> list[str]:
    """The subcommand path of a cited command: the words before the first flag or value."""
    words = []
    for word in command.split()[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        words.append(word)
    return words


def check_cli_refs() -> list[str]:
    compliance = DOCS / "compliance.md"
    if not compliance.exists():
        return []
    if not os.access(CLI, os.X_OK):
        print(f"check-docs: {CLI} not built, certctl commands not checked")
        return []
    errors = []
    seen: set[tuple[str, ...]] = set()
    for line_no, line in enumerate(compliance.read_text(encoding="utf-8").splitlines(), 1):
        for command in CLI_REF.findall(line):
            words = tuple(cli_words(command))
            if words in seen:
                continue
            seen.add(words)
            run = subprocess.run(
                [str(CLI), *words, "--help"],
                capture_output=True,
                text=True,
                env={**os.environ, "CERTCTL_CONFIG": os.devnull},
            )
            if run.returncode != 0:
                first = (run.stderr.strip().splitlines() or ["?"])[0]
                errors.append(f"docs/compliance.md:{line_no}: `{command}`: {first}")
    print(f"check-docs: {len(seen)} certctl commands checked")
    return errors


def main() -> None:
    errors = [] if "--no-build" in sys.argv[1:] else build()
    errors += check_links() + check_test_refs() + check_compliance_rows() + check_cli_refs()
    for e in errors:
        print(f"check-docs: {e}", file=sys.stderr)
    if errors:
        sys.exit(f"check-docs: {len(errors)} problem(s)")
    print("check-docs: ok")


if __name__ == "__main__":
    main()
