#!/usr/bin/env python3
"""Fails when two modules of one crate import each other, directly or through a loop.

Reads every crate's `src/` (tests excluded): the module of each file, and the modules its code
names through `crate::…` and `super::…` paths. A module and its own submodules are one unit
(`mod` declarations point down, `super::` points up). Prints each loop, then "N import loops";
exits 1 if there is any.

Usage:  python3 scripts/check-imports.py        (from anywhere)
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = [p.parent for p in sorted(ROOT.glob("*/src")) if (p.parent / "Cargo.toml").is_file()]
PATH = re.compile(r"\b(crate|super)::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")


def module_of(src: Path, file: Path) -> str:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return "::".join(parts)


def graph(src: Path) -> tuple[set[str], dict[str, set[str]]]:
    names: set[str] = set()
    raw: dict[str, set[str]] = collections.defaultdict(set)
    for file in src.rglob("*.rs"):
        module = module_of(src, file)
        names.add(module)
        text = file.read_text()
        text = text.split("#[cfg(test)]", 1)[0]
        text = re.sub(r"//[^\n]*", "", text)
        parent = "::".join(module.split("::")[:-1]) if module else ""
        for anchor, path in PATH.findall(text):
            base = parent if anchor == "super" else ""
            raw[module].add(f"{base}::{path}" if base else path)
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for module, targets in raw.items():
        for target in targets:
            segs = target.split("::")
            for k in range(len(segs), 0, -1):
                cand = "::".join(segs[:k])
                if cand in names:
                    related = cand == module or module.startswith(cand + "::") or cand.startswith(module + "::")
                    if not related and cand:
                        edges[module].add(cand)
                    break
    return names, edges


def loops(names: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(names):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    total = 0
    for crate in CRATES:
        names, edges = graph(crate / "src")
        for comp in loops(names, edges):
            total += 1
            print(f"FAIL  {crate.name}: {' <-> '.join(comp)}")
    print(f"{total} import loops in {len(CRATES)} crates")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
