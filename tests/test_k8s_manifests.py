"""The Kubernetes manifests in configs/: every document validates against the schemas of a
pinned Kubernetes version in strict mode (an unknown or misspelt field fails), offline, and
the fleet's pieces point at each other."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from phizer.config.schema import LimitsConfig

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
MANIFESTS = sorted(CONFIGS.glob("*.yaml"))

# The Kubernetes version whose schemas the manifests must satisfy (kubernetes-validate ships
# them; it falls back to an older one it has, so the tests check it used this one).
KUBERNETES = "1.37"

Doc = dict[str, Any]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation reads the schemas shipped in the package: any connection is a failure."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during manifest validation: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def documents(path: Path) -> list[Doc]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def all_documents() -> Iterator[tuple[str, Doc]]:
    for path in MANIFESTS:
        for i, doc in enumerate(documents(path)):
            yield f"{path.name}[{i}]", doc


def find(kind: str, name: str) -> Doc:
    found = [
        doc for _, doc in all_documents() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} documents"
    return found[0]


def pod_spec(doc: Doc) -> Doc:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def container(doc: Doc) -> Doc:
    containers = pod_spec(doc)["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def command_line(doc: Doc) -> str:
    c = container(doc)
    return " ".join(c.get("command", []) + c.get("args", []))


def test_manifests_found() -> None:
    names = {p.name for p in MANIFESTS}
    assert {
        "serve-deployment.yaml",
        "serve-hpa.yaml",
        "warm-cronjob.yaml",
        "warm-indexed-job.yaml",
    } <= names


@pytest.mark.parametrize(("where", "doc"), [pytest.param(w, d, id=w) for w, d in all_documents()])
def test_validates_strictly(where: str, doc: Doc) -> None:
    try:
        used = kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        at = ".".join(str(p) for p in exc.absolute_path)
        pytest.fail(f"{where} {doc['kind']}/{doc['metadata']['name']}: {at}: {exc.message}")
    assert used == KUBERNETES


def test_strict_validation_refuses_an_unknown_field() -> None:
    doc = find("Deployment", "phizer-serve")
    container(doc)["readinessProbe"]["httpGet"]["pathh"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError, match="pathh"):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_serve_probes_and_service() -> None:
    deployment = find("Deployment", "phizer-serve")
    serve = container(deployment)
    assert "serve" in serve["command"]
    assert serve["command"][serve["command"].index("--host") + 1] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in serve["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = serve[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports.get(get["port"], get["port"]) in ports.values()

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for name in ("phizer-serve", "phizer-serve-pods"):
        service = find("Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert ports.get(target, target) in ports.values(), f"{name}: {target}"


def test_serve_sizing_follows_the_drain_and_the_workers() -> None:
    deployment = find("Deployment", "phizer-serve")
    serve = container(deployment)
    # SIGTERM drains the jobs in flight: a fetch alone may take fetch_timeout.
    pre_stop = int(serve["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
    assert grace > pre_stop + LimitsConfig.fetch_timeout
    # One core a render worker.
    workers = serve["command"][serve["command"].index("--workers") + 1]
    assert serve["resources"]["requests"]["cpu"] == workers
    assert "cpu" not in serve["resources"].get("limits", {})


def test_hpa_scales_the_deployment_on_cpu() -> None:
    hpa = find("HorizontalPodAutoscaler", "phizer-serve")
    target = hpa["spec"]["scaleTargetRef"]
    deployment = find(target["kind"], target["name"])
    assert (target["kind"], target["apiVersion"]) == ("Deployment", deployment["apiVersion"])
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"


def test_nightly_warm_prunes_alone() -> None:
    cron = find("CronJob", "phizer-warm-nightly")
    line = command_line(cron).split()
    assert "warm" in line
    assert "--prune" in line
    assert "--json" in line
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_same_image_and_config_everywhere() -> None:
    """The CronJob and the Deployment run what the Indexed Job runs, from the same config."""
    job = find("Job", "phizer-warm")
    reference = container(job)

    def mount(doc: Doc) -> tuple[str, str]:
        volumes = {v["name"]: v for v in pod_spec(doc)["volumes"]}
        [m] = [m for m in container(doc)["volumeMounts"] if "configMap" in volumes[m["name"]]]
        return volumes[m["name"]]["configMap"]["name"], m["mountPath"]

    for doc in (find("CronJob", "phizer-warm-nightly"), find("Deployment", "phizer-serve")):
        c = container(doc)
        assert c["image"] == reference["image"]
        assert mount(doc) == mount(job)
        assert f"{mount(job)[1]}/phizer.toml" in command_line(doc)
        secrets = {e["name"]: e.get("valueFrom") for e in c["env"]}
        for e in reference["env"]:
            assert secrets.get(e["name"]) == e["valueFrom"], e["name"]
