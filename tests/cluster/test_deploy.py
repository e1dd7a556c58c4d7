"""deploy/ is configuration that nobody can run here (no Docker, no cluster): parse every file and check
the keys and invariants an operator relies on, so a typo or a dropped safety setting fails CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "KEY")


def load_all(path: Path) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path} is empty"
    return docs


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as section -> [(key, value)], keeping repeated keys (configparser would merge)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path}:{number}: key outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path}:{number}: not key=value: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def test_every_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        load_all(path)


def test_compose_has_database_migration_worker_pool_and_embedded_alternative() -> None:
    compose = load_all(DEPLOY / "compose" / "compose.yaml")[0]
    services = compose["services"]
    assert {"postgres", "migrate", "worker", "embedded"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"]
    migrate = services["migrate"]
    assert "repmon db upgrade" in " ".join(migrate["command"])
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    worker = services["worker"]
    assert worker["command"][0] == "worker"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["deploy"]["replicas"] >= 2
    assert services["embedded"]["profiles"] == ["embedded"]  # never started next to the workers by default
    assert "repmon run" in " ".join(services["embedded"]["command"])
    declared = set(compose["secrets"])
    for name, service in services.items():
        for secret in service.get("secrets", []):
            assert secret in declared, f"service {name} uses undeclared secret {secret}"
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in SECRET_WORDS):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), (
                    f"{name}: secret {key} must come from a secret file, not an inline value"
                )
        if name != "postgres":
            assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_all(path):
            for key in ("apiVersion", "kind", "metadata"):
                assert key in doc, f"{path.name}: {key} missing"
            assert doc["metadata"]["name"]
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "repmon", f"{path.name}: {doc['kind']} outside namespace"
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def hardened(pod_spec: dict[str, Any]) -> None:
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["automountServiceAccountToken"] is False
    for container in pod_spec["containers"]:
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]


def test_kubernetes_manifests_workers_migration_config_and_secret() -> None:
    objects = k8s_objects()
    worker = objects[("Deployment", "repmon-worker")]
    pod = worker["spec"]["template"]["spec"]
    hardened(pod)
    (container,) = pod["containers"]
    assert container["args"][0] == "worker"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    template_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert worker["spec"]["selector"]["matchLabels"].items() <= template_labels.items()

    job = objects[("Job", "repmon-migrate-0-1-0")]
    job_pod = job["spec"]["template"]["spec"]
    hardened(job_pod)
    assert "repmon db upgrade" in " ".join(job_pod["containers"][0]["command"])

    secret = objects[("Secret", "repmon-secrets")]
    env = objects[("ConfigMap", "repmon-env")]["data"]
    for key, value in env.items():
        if any(word in key for word in SECRET_WORDS):
            assert key.endswith("_FILE"), f"ConfigMap must not carry secret {key}"
            assert value.rsplit("/", 1)[-1] in secret["stringData"], f"{key} points at a key the Secret lacks"
    for pod_spec in (pod, job_pod):
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == "repmon-secrets"
        assert volumes["config"]["configMap"]["name"] == "repmon-config"
        # secret files readable by the service user only
        assert volumes["secrets"]["secret"]["defaultMode"] & 0o077 == 0

    config = objects[("ConfigMap", "repmon-config")]["data"]["repmon.toml"]
    assert tomllib.loads(config)["brands"]
    listed = set(yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"])
    assert "secret.example.yaml" not in listed  # real secrets are created out of band


def test_systemd_units_are_hardened_and_take_secrets_from_outside_the_unit() -> None:
    for name in ("repmon.service", "repmon-worker.service"):
        unit = parse_unit(DEPLOY / "systemd" / name)
        service = dict(unit["Service"])  # last value wins, like systemd for scalar settings
        keys = [key for key, _ in unit["Service"]]
        assert service["ExecStart"].split()[0].endswith("/repmon")
        assert service["EnvironmentFile"] == "/etc/repmon/repmon.env"
        for setting in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"):
            assert service[setting] == "yes", f"{name}: {setting}"
        assert service["ProtectSystem"] == "strict"
        assert service["CapabilityBoundingSet"] == ""
        assert "LoadCredential" in keys
        for key, value in unit["Service"]:
            if key == "Environment":
                var = value.split("=", 1)[0]
                assert not any(w in var for w in SECRET_WORDS) or var.endswith("_FILE"), f"{name}: inline {var}"
        assert unit["Install"] == [("WantedBy", "multi-user.target")]
    embedded = dict(parse_unit(DEPLOY / "systemd" / "repmon.service")["Service"])
    assert embedded["ExecStart"].split()[1] == "run"
    assert embedded["ExecStartPre"].endswith("repmon db upgrade")


def test_dockerfile_pins_cpu_torch_prepares_model_and_drops_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    torch_installs = re.findall(r"pip install[^\n]*torch[^\n]*", text)
    assert torch_installs and all('"torch==2.13.0"' in line for line in torch_installs)
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_installs[0]
    # torch is installed before the project, so the project's own pin is already satisfied.
    assert text.index("torch==2.13.0") < text.index('pip install ".[postgres,cluster]"')
    assert re.search(r"^RUN repmon model prepare$", text, re.MULTILINE)
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert "HF_HUB_OFFLINE=1" in text


@pytest.fixture(scope="module")
def alert_rules() -> list[dict[str, Any]]:
    doc = load_all(DEPLOY / "prometheus" / "alerts.yaml")[0]
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_prometheus_rules_cover_queue_sources_and_delivery(alert_rules: list[dict[str, Any]]) -> None:
    for rule in alert_rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule.get("alert")
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["expr"].count("(") == rule["expr"].count(")")
    exprs = " ".join(rule["expr"] for rule in alert_rules)
    for metric in ("repmon_queue_jobs", "repmon_source_health", "repmon_outbox_messages"):
        assert metric in exprs
    scrape = load_all(DEPLOY / "prometheus" / "prometheus.yaml")[0]
    assert scrape["rule_files"] == ["alerts.yaml"]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(repmon_[a-z_]+)", expr))


def test_shipped_configurations_pass_the_real_validator() -> None:
    from monitor.config import validate

    configmap = load_all(DEPLOY / "k8s" / "configmap.yaml")[0]["data"]["repmon.toml"]
    example = (DEPLOY / "compose" / "repmon.toml.example").read_text()
    for text in (configmap, example):
        config = validate(tomllib.loads(text), environ={}, require_secrets=False)
        assert config.brands and config.brands[0].sources


def test_worker_command_lines_in_every_deployment_parse_with_the_real_cli() -> None:
    from monitor.cluster.cli import worker

    compose = load_all(DEPLOY / "compose" / "compose.yaml")[0]["services"]["worker"]["command"]
    k8s = k8s_objects()[("Deployment", "repmon-worker")]["spec"]["template"]["spec"]["containers"][0]["args"]
    unit = dict(parse_unit(DEPLOY / "systemd" / "repmon-worker.service")["Service"])["ExecStart"].split()[1:]
    for argv in (compose, k8s, unit):
        assert argv[0] == "worker"
        context = worker.make_context("worker", list(argv[1:]))
        assert set(context.params["queues"]) == {"fetch", "score", "detect", "alert"}
