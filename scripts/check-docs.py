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
   command cited inline anywhere in the docs must be a real subcommand of the command-line
   client (`certctl <subcommand> --help` succeeds), when the client is built.

Usage: scripts/check-docs.py [--no-build] [--require-cli]
  --no-build     check an existing target/book/
  --require-cli  fail, rather than skip the command check, when target/debug/certctl is missing
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
BOOK = (ROOT / "target" / "book").resolve()
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
        # MDBOOK_LOG could silence the warnings this check relies on.
        env = {k: v for k, v in os.environ.items() if k != "MDBOOK_LOG"}
        run = subprocess.run(["mdbook", "build"], cwd=ROOT, capture_output=True, text=True, env=env)
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


# The client's global options that take a value; they may come before the subcommand.
GLOBAL_WITH_VALUE = {"-o", "--output", "--server", "--api-key", "--api-key-file", "--ca-bundle", "--context"}


def cli_words(command: str) -> list[str]:
    """The subcommand path of a cited command: the words before the first flag or value, global
    options (`-o json`, `--context prod`) skipped."""
    tokens = command.split()[1:]
    words = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in GLOBAL_WITH_VALUE:
            i += 2
            continue
        if token.startswith(("--output=", "--server=", "--context=", "-o=")):
            i += 1
            continue
        if not re.fullmatch(r"[a-z][a-z-]*", token):
            break
        words.append(token)
        i += 1
    return words


def check_cli_refs(require: bool) -> list[str]:
    """Every `certctl …` cited inline in the docs names a subcommand the client has."""
    if not os.access(CLI, os.X_OK):
        if require:
            return [f"{CLI} is not built: the certctl commands the docs cite cannot be checked"]
        print(f"check-docs: {CLI} not built, certctl commands not checked")
        return []
    errors = []
    seen: dict[tuple[str, ...], bool] = {}
    for md in markdown_files():
        if not md.exists():
            continue
        for line_no, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            for command in CLI_REF.findall(line):
                words = tuple(cli_words(command))
                if not words:
                    continue  # `certctl --help` and the like: nothing to check
                if words not in seen:
                    run = subprocess.run(
                        [str(CLI), *words, "--help"],
                        capture_output=True,
                        text=True,
                        env={**os.environ, "CERTCTL_CONFIG": os.devnull},
                    )
                    seen[words] = run.returncode == 0
                if not seen[words]:
                    errors.append(f"{md.relative_to(ROOT)}:{line_no}: `{command}` is not a certctl command")
    print(f"check-docs: {len(seen)} certctl subcommands checked")
    return errors


def main() -> None:
    errors = [] if "--no-build" in sys.argv[1:] else build()
    errors += check_links() + check_test_refs() + check_compliance_rows()
    errors += check_cli_refs(require="--require-cli" in sys.argv[1:])
    for e in errors:
        print(f"check-docs: {e}", file=sys.stderr)
    if errors:
        sys.exit(f"check-docs: {len(errors)} problem(s)")
    print("check-docs: ok")


if __name__ == "__main__":
    main()
