#!/usr/bin/env python3
"""Static checks for certctl's packaging (Dockerfile, compose.yaml and deploy/) and for the
repository standing on its own (licence, docs, test tooling).

No cluster, no Docker daemon and no build needed: the files are parsed and checked
against the packaging rules in docs/architecture.md and docs/operations.md (one image with
four binaries, the responder never gets the key-encryption key, every Deployment is probed,
HPAs/PDBs/NetworkPolicies exist), and the docs are checked for links out of the repository.

Usage:  python3 scripts/check-static.py        (from anywhere; paths are repo-relative)
Needs:  PyYAML. scripts/test.sh installs it into the project virtualenv .venv/ and runs this
        with that virtualenv's python3.

Prints one line per check, then "N passed, M failed"; exits 1 if any check failed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the environment
    print("FAIL  PyYAML is not installed (scripts/test.sh installs it into .venv/)")
    print("0 passed, 1 failed")
    sys.exit(1)

ROOT = Path(__file__).resolve().parent.parent

BINARIES = (
    "certctl-api-server",
    "certctl-notifier-worker",
    "certctl-revocation-responder",
    "certctl-migrate",
)
COMPOSE_SERVICES = (
    "postgres",
    "rabbitmq",
    "migrate",
    "api-server",
    "notifier-worker",
    "revocation-responder",
)
KEK = "CERTCTL_KEY_ENCRYPTION_KEY"


class Checker:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS  {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f" -- {detail}" if detail else ""))
        return ok


# --------------------------------------------------------------------------- helpers


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def load_docs(path: Path) -> list[dict]:
    """All non-empty YAML documents in a file (multi-document aware)."""
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def compose_env(service: dict) -> dict[str, str]:
    """A compose service's environment, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def pod_containers(deployment: dict) -> list[dict]:
    spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def mentions(obj, needle: str) -> bool:
    """True if `needle` appears anywhere (keys or values) in a parsed YAML tree."""
    if isinstance(obj, dict):
        return any(mentions(k, needle) or mentions(v, needle) for k, v in obj.items())
    if isinstance(obj, list):
        return any(mentions(v, needle) for v in obj)
    return isinstance(obj, str) and needle in obj


# --------------------------------------------------------------------------- checks


def check_dockerfile(c: Checker) -> None:
    path = ROOT / "Dockerfile"
    if not c.check(path.is_file(), "Dockerfile exists"):
        return
    text = path.read_text(encoding="utf-8")
    # Ignore comment lines so a commented-out stage or binary does not count.
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stages = re.findall(r"^\s*FROM\s+\S+", code, flags=re.MULTILINE | re.IGNORECASE)
    c.check(len(stages) >= 2, "Dockerfile is multi-stage (>= 2 FROM)", f"found {len(stages)}")
    missing = [b for b in BINARIES if b not in code]
    c.check(not missing, "Dockerfile names all four binaries", f"missing {missing}")
    c.check(
        re.search(r"^\s*USER\s+(?!0\b|root\b)\S+", code, flags=re.MULTILINE) is not None,
        "Dockerfile runtime runs as a non-root USER",
    )


def check_compose(c: Checker) -> None:
    path = ROOT / "compose.yaml"
    if not c.check(path.is_file(), "compose.yaml exists"):
        return
    try:
        docs = load_docs(path)
    except yaml.YAMLError as exc:
        c.check(False, "compose.yaml parses", str(exc))
        return
    c.check(len(docs) == 1, "compose.yaml parses as one document")
    services = (docs[0] if docs else {}).get("services") or {}

    missing = [s for s in COMPOSE_SERVICES if s not in services]
    c.check(not missing, "compose has postgres, rabbitmq, migrate and the three daemons", f"missing {missing}")

    for name in ("api-server", "notifier-worker"):
        env = compose_env(services.get(name, {}))
        c.check(KEK in env, f"compose {name} gets {KEK}")
        # Interpolated from the caller's environment, never a literal key in the file.
        c.check(
            env.get(KEK, "").startswith("${" + KEK),
            f"compose {name} takes {KEK} from the environment (not hard-coded)",
            f"value is {env.get(KEK)!r}",
        )
    responder = services.get("revocation-responder", {})
    c.check(
        KEK not in compose_env(responder) and not mentions(responder, KEK),
        f"compose revocation-responder does NOT get {KEK}",
    )

    migrate = services.get("migrate", {})
    command = migrate.get("command")
    command_text = " ".join(command) if isinstance(command, list) else str(command or "")
    c.check("certctl-migrate up" in command_text, "compose migrate runs `certctl-migrate up`", f"command is {command!r}")

    for name in ("api-server", "notifier-worker", "revocation-responder"):
        svc = services.get(name, {})
        deps = svc.get("depends_on") or {}
        cond = deps.get("migrate", {}).get("condition") if isinstance(deps, dict) else None
        c.check(
            cond == "service_completed_successfully",
            f"compose {name} waits for migrate to complete",
            f"condition is {cond!r}",
        )
        c.check("healthcheck" in svc, f"compose {name} has a healthcheck")


def check_kustomizations(c: Checker) -> None:
    """Every kustomization under deploy/ refers only to files/dirs that exist."""
    base = ROOT / "deploy" / "base" / "kustomization.yaml"
    c.check(base.is_file(), "deploy/base/kustomization.yaml exists")
    for kfile in sorted((ROOT / "deploy").rglob("kustomization.y*ml")):
        try:
            kust = load_docs(kfile)[0]
        except (yaml.YAMLError, IndexError) as exc:
            c.check(False, f"{rel(kfile)} parses", str(exc))
            continue
        refs = list(kust.get("resources") or [])
        refs += [p["path"] for p in (kust.get("patches") or []) if isinstance(p, dict) and "path" in p]
        refs += list(kust.get("patchesStrategicMerge") or [])
        missing = [r for r in refs if not (kfile.parent / r).exists()]
        c.check(not missing, f"{rel(kfile)} lists only files that exist ({len(refs)} entries)", f"missing {missing}")
        c.check(
            not any("secret.example" in str(r) for r in refs),
            f"{rel(kfile)} does not include the example Secret",
        )


def check_manifests(c: Checker) -> None:
    files = sorted(p for p in (ROOT / "deploy").rglob("*") if p.suffix in (".yaml", ".yml"))
    objects: list[dict] = []
    for path in files:
        try:
            docs = load_docs(path)
        except yaml.YAMLError as exc:
            c.check(False, f"{rel(path)} parses", str(exc))
            continue
        c.check(True, f"{rel(path)} parses ({len(docs)} document(s))")
        if path.name.startswith("kustomization.") or "secret.example" in path.name:
            continue
        # Overlay patches are fragments, not full objects; only the base is checked below.
        if "overlays" in path.parts:
            continue
        objects += [d for d in docs if isinstance(d, dict) and "kind" in d]

    def of_kind(kind: str) -> list[dict]:
        return [o for o in objects if o.get("kind") == kind]

    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    c.check(len(deployments) == 3, "deploy/base has three Deployments", f"found {sorted(deployments)}")

    for name, dep in sorted(deployments.items()):
        containers = pod_containers(dep)
        probed = containers and all("livenessProbe" in ct and "readinessProbe" in ct for ct in containers)
        c.check(bool(probed), f"Deployment {name} has liveness and readiness probes")
        hardened = containers and all(
            (ct.get("securityContext") or {}).get("readOnlyRootFilesystem") is True
            and "ALL" in ((ct.get("securityContext") or {}).get("capabilities") or {}).get("drop", [])
            for ct in containers
        )
        non_root = (dep["spec"]["template"]["spec"].get("securityContext") or {}).get("runAsNonRoot") is True
        c.check(bool(hardened) and non_root, f"Deployment {name} is non-root, read-only rootfs, drops ALL caps")

    responders = [d for n, d in deployments.items() if "revocation-responder" in n]
    c.check(
        len(responders) == 1 and not mentions(responders[0], KEK),
        f"responder Deployment does NOT reference {KEK}",
    )

    jobs = of_kind("Job")
    c.check(
        any("certctl-migrate" in " ".join(ct.get("command") or []) for j in jobs for ct in pod_containers(j)),
        "a Job runs certctl-migrate",
    )

    hpa_targets = {h.get("spec", {}).get("scaleTargetRef", {}).get("name") for h in of_kind("HorizontalPodAutoscaler")}
    for component in ("revocation-responder", "notifier-worker"):
        c.check(
            any(t and component in t and t in deployments for t in hpa_targets),
            f"HPA targets the {component} Deployment",
            f"HPA targets: {sorted(t for t in hpa_targets if t)}",
        )

    pdbs = of_kind("PodDisruptionBudget")
    for name, dep in sorted(deployments.items()):
        labels = dep["spec"]["template"].get("metadata", {}).get("labels", {})
        covered = any(
            (p.get("spec", {}).get("selector", {}).get("matchLabels") or {}).items() <= labels.items()
            and p.get("spec", {}).get("minAvailable") is not None
            for p in pdbs
        )
        c.check(covered, f"PodDisruptionBudget covers Deployment {name}")

    policies = of_kind("NetworkPolicy")
    c.check(bool(policies), "NetworkPolicies exist", "none found")
    c.check(
        any(
            p.get("spec", {}).get("podSelector") in ({}, None)
            and "Ingress" in (p.get("spec", {}).get("policyTypes") or [])
            and not p.get("spec", {}).get("ingress")
            for p in policies
        ),
        "a default-deny ingress NetworkPolicy exists",
    )


def check_repository(c: Checker) -> None:
    """The repository stands on its own: what a reader needs is in it."""
    cargo = (ROOT / "Cargo.toml").read_text()
    c.check(
        (ROOT / "LICENSE").is_file() and 'license = "Apache-2.0"' in cargo
        and "Apache License" in (ROOT / "LICENSE").read_text(),
        "LICENSE holds the Apache-2.0 text that Cargo.toml declares",
    )
    readers = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    outside = re.compile(r"DESIGN\.md|STACK\.md|STYLE\.md|\.\./shared/|rust-svc")
    for path in readers:
        hits = sorted({m.group(0) for m in outside.finditer(path.read_text())})
        c.check(not hits, f"{rel(path)} refers to nothing outside the repository", ", ".join(hits))
    lib = (ROOT / "migrations/src/lib.rs").read_text()
    migrations = re.findall(r"^mod (m\d{8}_\d{6}_\w+);", lib, re.M)
    ops = (ROOT / "docs/operations.md").read_text()
    missing = [m for m in migrations if m not in ops]
    c.check(
        bool(migrations) and not missing,
        f"docs/operations.md lists all {len(migrations)} migrations",
        ", ".join(missing),
    )
    installs_outside = [
        rel(p)
        for p in [*ROOT.joinpath("scripts").glob("*.sh"), *ROOT.joinpath("bench").glob("*.sh")]
        if re.search(r"^\s*(python3 -m )?pip3? install", p.read_text(), re.M)
    ]
    c.check(
        not installs_outside,
        "no script installs Python packages outside the project .venv/",
        ", ".join(installs_outside),
    )


def main() -> int:
    c = Checker()
    check_repository(c)
    check_dockerfile(c)
    check_compose(c)
    check_kustomizations(c)
    check_manifests(c)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
