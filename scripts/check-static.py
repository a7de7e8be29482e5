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
        refs = list(kust.get("resources") or []) + list(kust.get("components") or [])
        refs += [p["path"] for p in (kust.get("patches") or []) if isinstance(p, dict) and "path" in p]
        refs += list(kust.get("patchesStrategicMerge") or [])
        missing = [r for r in refs if not (kfile.parent / r).exists()]
        c.check(not missing, f"{rel(kfile)} lists only files that exist ({len(refs)} entries)", f"missing {missing}")
        c.check(
            not any("secret.example" in str(r) for r in refs),
            f"{rel(kfile)} does not include the example Secret",
        )


SECRETS_DIR = "/var/run/secrets/certctl"
# The only secret passed as a variable: optional, and a *_FILE naming a missing file stops the start.
ENV_SECRET_ALLOWED = {"CERTCTL_BOOTSTRAP_ADMIN_KEY"}


def main_containers(obj: dict) -> list[dict]:
    return list(obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [])


def init_containers(obj: dict) -> list[dict]:
    return list(obj.get("spec", {}).get("template", {}).get("spec", {}).get("initContainers") or [])


def secret_items(obj: dict) -> set[str]:
    """Keys of certctl-secrets mounted into a pod template through volumes."""
    vols = obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes") or []
    return {
        item["key"]
        for v in vols
        if (v.get("secret") or {}).get("secretName") == "certctl-secrets"
        for item in v["secret"].get("items") or []
    }


def egress_ports(policies: list[dict], labels: dict) -> set:
    """Ports a pod with `labels` may connect to, over every egress policy selecting it."""
    ports: set = set()
    for p in policies:
        spec = p.get("spec", {})
        sel = spec.get("podSelector") or {}
        if not (sel.get("matchLabels") or {}).items() <= labels.items():
            continue
        if any(labels.get(e["key"]) not in e.get("values", []) for e in sel.get("matchExpressions") or []):
            continue
        for rule in spec.get("egress") or []:
            for port in rule.get("ports") or [{"port": "any"}]:
                ports.add(port.get("port"))
    return ports


def check_manifests(c: Checker) -> None:
    # Helm templates are Go templates, not YAML; check-deploy.sh renders and compares them.
    files = sorted(
        p for p in (ROOT / "deploy").rglob("*")
        if p.suffix in (".yaml", ".yml") and not ("helm" in p.parts and "templates" in p.parts)
    )
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
        # Overlays and components are checked by scripts/check-deploy.sh, rendered; the
        # invariants below are about the base every overlay starts from.
        if "base" not in path.parts:
            continue
        objects += [d for d in docs if isinstance(d, dict) and "kind" in d]

    def of_kind(kind: str) -> list[dict]:
        return [o for o in objects if o.get("kind") == kind]

    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    c.check(len(deployments) == 3, "deploy/base has three Deployments", f"found {sorted(deployments)}")

    for name, dep in sorted(deployments.items()):
        containers = main_containers(dep)
        inits = init_containers(dep)
        pod = dep["spec"]["template"]["spec"]
        probed = containers and all(
            "livenessProbe" in ct and "readinessProbe" in ct and "startupProbe" in ct for ct in containers
        )
        c.check(bool(probed), f"Deployment {name} has startup, liveness and readiness probes")
        c.check(
            all((ct.get("startupProbe") or {}).get("failureThreshold", 3) * (ct.get("startupProbe") or {}).get("periodSeconds", 10) >= 120
                for ct in containers),
            f"Deployment {name}'s startup probe allows at least 2 minutes",
        )
        hardened = all(
            (ct.get("securityContext") or {}).get("readOnlyRootFilesystem") is True
            and "ALL" in ((ct.get("securityContext") or {}).get("capabilities") or {}).get("drop", [])
            for ct in containers + inits
        )
        non_root = (pod.get("securityContext") or {}).get("runAsNonRoot") is True
        c.check(bool(containers) and hardened and non_root, f"Deployment {name} is non-root, read-only rootfs, drops ALL caps")
        c.check(
            any(ct.get("name") == "wait-for-schema" and ct.get("command") == ["certctl-migrate", "wait"] for ct in inits),
            f"Deployment {name} has the wait-for-schema init container (certctl-migrate wait)",
        )
        spread = {t.get("topologyKey"): t.get("whenUnsatisfiable") for t in pod.get("topologySpreadConstraints") or []}
        c.check(
            spread.get("topology.kubernetes.io/zone") == "ScheduleAnyway" and "kubernetes.io/hostname" in spread,
            f"Deployment {name} spreads across zones (ScheduleAnyway) and nodes",
            f"constraints {spread}",
        )
        refs = [
            e["name"]
            for ct in containers + inits
            for e in ct.get("env") or []
            if "secretKeyRef" in (e.get("valueFrom") or {})
            and not (e["name"] in ENV_SECRET_ALLOWED and e["valueFrom"]["secretKeyRef"].get("optional") is True)
        ]
        c.check(not refs, f"Deployment {name} takes its secrets from files, not secretKeyRef variables", ", ".join(refs))
        mounts = [m for ct in containers + inits for m in ct.get("volumeMounts") or [] if m.get("mountPath") == SECRETS_DIR]
        c.check(
            bool(mounts) and all(m.get("readOnly") is True for m in mounts) and bool(secret_items(dep)),
            f"Deployment {name} mounts only listed keys of certctl-secrets, read-only, at {SECRETS_DIR}",
        )
        file_vars = {e["name"] for ct in containers for e in ct.get("env") or [] if e["name"].endswith("_FILE")}
        c.check("CERTCTL_DATABASE_URL_FILE" in file_vars, f"Deployment {name} reads CERTCTL_DATABASE_URL from a file")

    responders = [d for n, d in deployments.items() if "revocation-responder" in n]
    c.check(
        len(responders) == 1 and not mentions(responders[0], KEK),
        f"responder Deployment does NOT reference {KEK}",
    )
    c.check(
        len(responders) == 1
        and secret_items(responders[0]) == {"CERTCTL_RESPONDER_DATABASE_URL", "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY"},
        "responder mounts only its read-only database URL and the responder KEK",
        f"mounts {sorted(secret_items(responders[0])) if responders else None}",
    )

    jobs = {j["metadata"]["name"]: j for j in of_kind("Job")}
    commands = {n: [ct.get("command") for ct in main_containers(j)] for n, j in jobs.items()}
    c.check(
        any(["certctl-migrate", "up"] in cmds for cmds in commands.values()),
        "a Job runs certctl-migrate up",
        f"Job commands {commands}",
    )
    role_jobs = [n for n, cmds in commands.items() if ["certctl-migrate", "responder-role"] in cmds]
    c.check(bool(role_jobs), "a Job runs certctl-migrate responder-role", f"Job commands {commands}")
    c.check(
        all(any(ct.get("command") == ["certctl-migrate", "wait"] for ct in init_containers(jobs[n])) for n in role_jobs),
        "the responder-role Job waits for the schema first",
    )
    c.check(
        not any(mentions(j, "secretKeyRef") for j in jobs.values()),
        "the Jobs take their secrets from files, not secretKeyRef variables",
    )

    hpas = of_kind("HorizontalPodAutoscaler")
    hpa_targets = {h.get("spec", {}).get("scaleTargetRef", {}).get("name") for h in hpas}
    for component in ("revocation-responder", "notifier-worker"):
        c.check(
            any(t and component in t and t in deployments for t in hpa_targets),
            f"HPA targets the {component} Deployment",
            f"HPA targets: {sorted(t for t in hpa_targets if t)}",
        )
    for h in hpas:
        behavior = h.get("spec", {}).get("behavior") or {}
        c.check(
            (behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds", 0) >= 60 and "scaleUp" in behavior,
            f"HPA {h['metadata']['name']} has scale-up and scale-down behaviour (down stabilised)",
        )

    pdbs = of_kind("PodDisruptionBudget")
    for name, dep in sorted(deployments.items()):
        labels = dep["spec"]["template"].get("metadata", {}).get("labels", {})
        covered = any(
            (p.get("spec", {}).get("selector", {}).get("matchLabels") or {}).items() <= labels.items()
            and (p.get("spec", {}).get("minAvailable") is not None or p.get("spec", {}).get("maxUnavailable") is not None)
            for p in pdbs
        )
        c.check(covered, f"PodDisruptionBudget covers Deployment {name}")

    policies = of_kind("NetworkPolicy")
    c.check(bool(policies), "NetworkPolicies exist", "none found")
    for direction, key in (("Ingress", "ingress"), ("Egress", "egress")):
        c.check(
            any(
                p.get("spec", {}).get("podSelector") in ({}, None)
                and direction in (p.get("spec", {}).get("policyTypes") or [])
                and not p.get("spec", {}).get(key)
                for p in policies
            ),
            f"a default-deny {direction.lower()} NetworkPolicy exists",
        )
    allowed = {
        "revocation-responder": {53, 5432},
        "api-server": {53, 5432, 5671, 5672},
    }
    for component, ports in allowed.items():
        labels = {"app.kubernetes.io/name": "certctl", "app.kubernetes.io/component": component}
        got = egress_ports(policies, labels)
        c.check(
            {53, 5432} <= got and got <= ports,
            f"base egress of the {component} is DNS, PostgreSQL{' and RabbitMQ' if 5672 in ports else ''} only",
            f"ports {sorted(map(str, got))}",
        )

    # Optional components and the production overlay, as written (rendered by check-deploy.sh).
    keda = (ROOT / "deploy/components/keda/kustomization.yaml").read_text() if (ROOT / "deploy/components/keda/kustomization.yaml").is_file() else ""
    c.check(
        "$patch: delete" in keda and "HorizontalPodAutoscaler" in keda,
        "components/keda deletes the worker's CPU HPA (KEDA brings its own)",
    )
    prod_path = ROOT / "deploy/overlays/production/kustomization.yaml"
    prod = load_docs(prod_path)[0] if prod_path.is_file() else {}
    c.check(
        any(re.fullmatch(r"sha256:[0-9a-f]{64}", str(i.get("digest", ""))) for i in prod.get("images") or []),
        "the production overlay pins the image by digest",
    )
    c.check(
        {"../../components/monitoring", "../../components/ingress"} <= set(prod.get("components") or []),
        "the production overlay includes the monitoring and ingress components",
    )
    c.check(
        (ROOT / "deploy/monitoring/rules.yaml").is_file() and (ROOT / "deploy/monitoring/tests.yaml").is_file(),
        "alert rules and their promtool tests exist (deploy/monitoring)",
    )


def check_repository(c: Checker) -> None:
    """The repository stands on its own: what a reader needs is in it."""
    cargo = (ROOT / "Cargo.toml").read_text()
    c.check(
        (ROOT / "LICENSE").is_file() and 'license = "Apache-2.0"' in cargo
        and "Apache License" in (ROOT / "LICENSE").read_text(),
        "LICENSE holds the Apache-2.0 text that Cargo.toml declares",
    )
    readers = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
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
