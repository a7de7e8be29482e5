#!/usr/bin/env python3
"""Runs the quickstart (docs/guides/quickstart.md) as written, against the real daemons.

Every fenced ```sh block of the guide is executed, in order, in one bash session (so variables
and background processes carry from one step to the next), from the repository root, with
`set -e`: a failing command fails the run and names its step. A ```text block right after a
```sh block is the output that step should print, and must match in shape:

- whitespace runs count as one space, blank lines are ignored;
- `<anything in angle brackets>` stands for any text within a line (ids, times, serials);
- a line that is only `...` stands for any number of lines.

A block preceded by the comment `<!-- quickstart: skip -->` is shown to readers but not run. A
block tagged as another shell (bash, shell, console, zsh) is refused: it would silently not run.

The instance is a throwaway one: `scripts/dev.sh up` runs with its state in a temporary
directory, the database `certctl_quickstart` (dropped first), its own RabbitMQ queues (a prefix
of its own, expiring once unused) and a temporary client configuration, so a developer's own
`.local/`, database, queues and contexts are never touched, and none of the caller's `CERTCTL_*`
settings leak in. The
public ports of dev.sh (8080, 8081, 9090-9092) and the guide's webhook receiver (9000) must be
free. The daemons are stopped at the end, whatever happened.

Usage: scripts/check-quickstart.py [--keep]   (--keep leaves the run's directory for reading)
       scripts/check-quickstart.py --preflight   (only check that the ports are free)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guides" / "quickstart.md"
PORTS = (8080, 8081, 9090, 9091, 9092, 9000)
DATABASE = "certctl_quickstart"
SERVER = "postgres://postgres@127.0.0.1:5432"
SKIP = "<!-- quickstart: skip -->"
OTHER_SHELLS = {"bash", "shell", "console", "zsh", "shell-session"}
DONE = "quickstart: all steps ran"
TIMEOUT_SECONDS = 900


@dataclass
class Step:
    number: int
    line: int
    script: str
    expected: list[str] | None


def steps(markdown: str) -> list[Step]:
    """The ```sh blocks of the guide, each with the ```text block that follows it, if any."""
    lines = markdown.splitlines()
    found: list[Step] = []
    i = 0
    skip_next = False
    while i < len(lines):
        line = lines[i].strip()
        if line == SKIP:
            skip_next = True
        elif line.startswith("```"):
            info = line[3:].strip()
            if info.split(",")[0] in OTHER_SHELLS:
                sys.exit(f"check-quickstart: quickstart.md line {i + 1}: a ```{info} block; tag commands ```sh")
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            body = lines[i + 1 : end]
            if info == "sh" and not skip_next:
                found.append(Step(len(found) + 1, i + 1, "\n".join(body) + "\n", None))
            elif info == "text" and found and found[-1].expected is None and follows(lines, found[-1], i):
                found[-1].expected = body
            if info:
                skip_next = False
            i = end
        i += 1
    return found


def follows(lines: list[str], step: Step, start: int) -> bool:
    """Whether the text block at `start` comes right after the step's block (prose may sit
    between them, another code block may not)."""
    return not any(l.strip().startswith("```sh") for l in lines[step.line : start])


def normalize(lines: list[str]) -> list[str]:
    return [re.sub(r"\s+", " ", l).strip() for l in lines if l.strip()]


def line_pattern(expected: str) -> re.Pattern[str]:
    parts = re.split(r"(<[^<>]+>)", expected)
    return re.compile(
        "".join(".+?" if p.startswith("<") and p.endswith(">") else re.escape(p) for p in parts)
    )


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line match in which a `...` line absorbs any number of lines."""
    exp = normalize(expected)
    act = normalize(actual)
    pats = [None if e == "..." else line_pattern(e) for e in exp]
    # reach[i][j]: the first i expected lines can match the first j output lines.
    reach = [[False] * (len(act) + 1) for _ in range(len(exp) + 1)]
    reach[0][0] = True
    for i, pat in enumerate(pats):
        for j in range(len(act) + 1):
            if not reach[i][j]:
                continue
            if pat is None:
                for k in range(j, len(act) + 1):
                    reach[i + 1][k] = True
            elif j < len(act) and pat.fullmatch(act[j]):
                reach[i + 1][j + 1] = True
    return reach[len(exp)][len(act)]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def driver(all_steps: list[Step], work: Path) -> str:
    """One bash script that sources each step with its output in its own file."""
    # -e and pipefail: a failing command fails its step, inside a pipeline too (conditions of
    # `until`, `if` and `&&` lists are exempt, as in any shell).
    out = [
        "set -eo pipefail",
        'trap \'echo "quickstart: step $STEP failed (exit status $?)" >&2\' ERR',
    ]
    for s in all_steps:
        block = work / f"step-{s.number}.sh"
        block.write_text(s.script)
        out.append(f"STEP={s.number}")
        out.append(f"source {block} > {work}/step-{s.number}.out 2>&1")
    out.append(f'echo "{DONE}"')
    return "\n".join(out) + "\n"


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{SERVER}/postgres", "-qtAc", sql], check=True)


def preflight() -> None:
    busy = [p for p in PORTS if port_in_use(p)]
    if busy:
        sys.exit(
            f"check-quickstart: ports {busy} are in use on 127.0.0.1; the quickstart needs them "
            "(is `scripts/dev.sh up` running? stop it with `scripts/dev.sh down`)"
        )


def main() -> None:
    keep = "--keep" in sys.argv[1:]
    all_steps = steps(GUIDE.read_text(encoding="utf-8"))
    if not all_steps:
        sys.exit(f"no ```sh blocks in {GUIDE}")
    preflight()
    if "--preflight" in sys.argv[1:]:
        return
    work = Path(tempfile.mkdtemp(prefix="certctl-quickstart-"))
    # A reader's shell, not the caller's: none of its certctl settings (client or daemon) leak in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CERTCTL_", "OTEL_")) and k not in ("KEY", "API", "WORK", "SECRET")
    }
    env.update(
        {
            "CERTCTL_DEV_STATE": str(work / "state"),
            "CERTCTL_DATABASE_URL": f"{SERVER}/{DATABASE}",
            "CERTCTL_CONFIG": str(work / "config.toml"),
            "CERTCTL_AMQP_PREFIX": f"certctl-quickstart-{uuid.uuid4().hex[:12]}",
            "CERTCTL_AMQP_QUEUE_EXPIRES": "60s",
            # The guide's `mktemp -d` lands in the run's directory, removed with it.
            "TMPDIR": str(work),
        }
    )
    psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    script = work / "run.sh"
    script.write_text(driver(all_steps, work))
    print(f"check-quickstart: {len(all_steps)} steps from {GUIDE.relative_to(ROOT)}, in {work}")
    driver_out = (work / "driver.out").open("w")
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=driver_out,
        start_new_session=True,
    )
    try:
        code = proc.wait(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        # The guide's background processes (its webhook receiver) and the daemons.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        subprocess.run([str(ROOT / "scripts" / "dev.sh"), "down"], cwd=ROOT, env=env, capture_output=True)
    failures = []
    for s in all_steps:
        out_file = work / f"step-{s.number}.out"
        if not out_file.exists():
            break
        output = out_file.read_text(encoding="utf-8", errors="replace").splitlines()
        if s.expected is not None and not matches(s.expected, output):
            failures.append((s, output))
    ran = sum(1 for s in all_steps if (work / f"step-{s.number}.out").exists())
    for s, output in failures:
        print(f"\ncheck-quickstart: step {s.number} (quickstart.md line {s.line}) printed:", file=sys.stderr)
        print("\n".join(output), file=sys.stderr)
        print("which does not have the shape the guide shows:", file=sys.stderr)
        print("\n".join(s.expected or []), file=sys.stderr)
    if code != 0:
        last = work / f"step-{ran}.out"
        print(f"\ncheck-quickstart: step {ran} failed" + (" (timed out)" if code is None else ""), file=sys.stderr)
        if last.exists():
            print(last.read_text(encoding="utf-8", errors="replace"), file=sys.stderr)
    driver_out.close()
    finished = DONE in (work / "driver.out").read_text()
    if code == 0 and (ran != len(all_steps) or not finished):
        # A step that called `exit 0` ends the shell early with success: the rest never ran.
        print(f"\ncheck-quickstart: only {ran} of {len(all_steps)} steps ran", file=sys.stderr)
        code = 1
    if code != 0 or failures:
        print(
            f"check-quickstart: the run is in {work}; its database {DATABASE} is kept until the next run",
            file=sys.stderr,
        )
        sys.exit(1)
    psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"check-quickstart: ok, {len(all_steps)} steps, outputs as the guide shows")


if __name__ == "__main__":
    main()
