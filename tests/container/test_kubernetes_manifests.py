"""
The Kubernetes manifests in ``deploy/kubernetes/`` without a cluster.

Every manifest is validated against the Kubernetes OpenAPI schema bundled with
``kubernetes-validate`` (strict: unknown fields are errors), for the oldest Kubernetes release
we document and for the newest the library knows. Then the references between them are
checked: the Secret and ConfigMap keys the pods use exist, the probes and the Service reach the
ports damsync listens on, the pods run as the image's user, the configuration in the ConfigMap
loads with damsync's own settings loader given the pod's environment, and the selectors of the
PodDisruptionBudget, the Service and the anti-affinity pick the Deployment's pods.
"""

from __future__ import annotations

import copy
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from daemon.settings.root import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
#: The oldest Kubernetes release docs/deployment.md promises, and the newest the library knows.
VERSIONS = ("1.30", kubernetes_validate.latest_version())
#: Custom resources: no schema in Kubernetes itself; checked by their own tests below.
CUSTOM = {"servicemonitor.yaml"}
#: Seconds left for closing (server, PIM client, database) after runtime.shutdown_grace.
CLOSE_MARGIN = 5


def manifest_files() -> list[str]:
    """Every manifest file's name (the kustomization is no Kubernetes object)."""
    return sorted(p.name for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def load(name: str) -> dict[str, Any]:
    """The one object in ``name``."""
    (document,) = list(yaml.safe_load_all((MANIFESTS / name).read_text(encoding="utf-8")))
    assert isinstance(document, dict), name
    return document


def objects() -> dict[tuple[str, str], dict[str, Any]]:
    """``{(kind, name): object}`` for every manifest."""
    found = {}
    for name in manifest_files():
        document = load(name)
        found[(document["kind"], document["metadata"]["name"])] = document
    return found


def get(kind: str, name: str = "damsync") -> dict[str, Any]:
    return objects()[(kind, name)]


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = get(kind, name)["spec"]["template"]["spec"]
    return spec


def pod_spec_labels(kind: str, name: str) -> dict[str, str]:
    labels: dict[str, str] = get(kind, name)["spec"]["template"]["metadata"]["labels"]
    return labels


def image_env() -> dict[str, str]:
    """The ``ENV`` values of the Dockerfile's final stage (the daemon's environment)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    final = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def image_uid() -> int:
    """The uid the image runs as (``ARG DAMSYNC_UID``, used by ``USER``)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER \$\{DAMSYNC_UID\}:\$\{DAMSYNC_UID\}$", text, re.M)
    match = re.search(r"^ARG DAMSYNC_UID=(\d+)$", text, re.M)
    assert match is not None
    return int(match.group(1))


def secret_data(name: str) -> dict[str, str]:
    secret = get("Secret", name)
    assert "data" not in secret, "placeholders are stringData, readable in review"
    data: dict[str, str] = secret["stringData"]
    return data


def resolve_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it, over the image's."""
    env = image_env()
    assert "envFrom" not in container, "every variable is named, so the test can follow it"
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            values = secret_data(ref["name"])
        else:
            ref = source["configMapKeyRef"]
            values = get("ConfigMap", ref["name"])["data"]
        assert ref["key"] in values, f"{item['name']}: no key {ref['key']!r} in {ref['name']}"
        env[item["name"]] = values[ref["key"]]
    return env


def daemon() -> dict[str, Any]:
    (container,) = pod_spec("Deployment", "damsync")["containers"]
    assert isinstance(container, dict)
    return container


def mount_for(spec: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volume mount holding ``path`` (deepest first) and its volume."""
    (container,) = spec["containers"]
    mounts = sorted(container["volumeMounts"], key=lambda m: -len(m["mountPath"]))
    for mount in mounts:
        if PurePosixPath(path).is_relative_to(mount["mountPath"]):
            volumes = {v["name"]: v for v in spec["volumes"]}
            return mount, volumes[mount["name"]]
    raise AssertionError(f"{path} is on no volume: the root filesystem is read-only")


def daemon_settings(tmp_path: Path) -> Settings:
    """The ConfigMap's damsync.toml, loaded as the daemon loads it in the pod."""
    env = resolve_env(daemon())
    mount, volume = mount_for(pod_spec("Deployment", "damsync"), env["DAMSYNC_CONFIG"])
    assert mount.get("readOnly") is True
    relative = str(PurePosixPath(env["DAMSYNC_CONFIG"]).relative_to(mount["mountPath"]))
    items = {i["path"]: i["key"] for i in volume["configMap"]["items"]}
    text = get("ConfigMap", volume["configMap"]["name"])["data"][items[relative]]
    path = tmp_path / "damsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env)


def container_port(name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in daemon()["ports"]}
    return int(ports[name])


def test_kustomization_lists_every_manifest_but_the_custom_resources():
    """kustomization.yaml applies every manifest; the ServiceMonitor stays optional."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text("utf-8"))
    assert set(manifest_files()) - CUSTOM == set(kustomization["resources"])
    (image,) = kustomization["images"]
    for kind, name in (("Deployment", "damsync"), ("Job", "damsync-migrate")):
        (container,) = pod_spec(kind, name)["containers"]
        assert f"{image['name']}:{image['newTag']}" == container["image"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(set(manifest_files()) - CUSTOM))
def test_manifest_matches_the_kubernetes_schema(name, version):
    """Each manifest is a valid object of its kind (unknown fields refused)."""
    kubernetes_validate.validate(load(name), version, strict=True)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), "two"),
        (("spec", "template", "spec", "containers", 0, "livenessprobe"), {}),
        (("spec", "template", "spec", "securityContext", "runAsUser"), "damsync"),
    ],
)
def test_schema_validation_refuses_a_broken_deployment(path, value):
    """The validator is strict enough to catch a wrong type or a misspelt field."""
    broken = copy.deepcopy(load("deployment.yaml"))
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


@pytest.mark.parametrize(("kind", "name"), [("Deployment", "damsync"), ("Job", "damsync-migrate")])
def test_pods_reference_existing_secrets_config_maps_and_volumes(kind, name):
    """Every Secret, ConfigMap, key, volume and service account a pod names exists."""
    spec = pod_spec(kind, name)
    assert ("ServiceAccount", spec["serviceAccountName"]) in objects()
    (container,) = spec["containers"]
    resolve_env(container)  # asserts each referenced key exists
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert {m["name"] for m in container["volumeMounts"]} == set(volumes)
    for volume in volumes.values():
        if "configMap" in volume:
            data = get("ConfigMap", volume["configMap"]["name"])["data"]
            assert {i["key"] for i in volume["configMap"].get("items", [])} <= set(data)
        elif "secret" in volume:
            data = secret_data(volume["secret"]["secretName"])
            assert {i["key"] for i in volume["secret"].get("items", [])} <= set(data)
        else:
            assert "emptyDir" in volume, volume["name"]


def test_config_map_loads_with_the_pod_environment(tmp_path):
    """damsync.toml loads with damsync's settings, its secrets and PostgreSQL from the Secret."""
    settings = daemon_settings(tmp_path)
    secrets = secret_data("damsync")
    assert secrets["database-url"] == settings.store.url
    assert settings.store.url.startswith("postgresql+psycopg://")
    assert ":" not in settings.store.url.split("://")[1].split("@")[0], "no password in the URL"
    loaded = set(settings.secret_values())
    for key in ("pim-client-secret", "pim-password", "dam-token", "dam-webhook-secret"):
        assert secrets[key] in loaded, key
    text = get("ConfigMap")["data"]["damsync.toml"]
    assert all(f'"{value}"' not in text for value in secrets.values())
    assert [] != [s for s in settings.sources if s.webhook is not None]


def test_probes_and_service_reach_the_configured_ports(tmp_path):
    """Probes ask /healthz and /readyz on [server] port; the Service maps both daemon ports."""
    settings = daemon_settings(tmp_path)
    assert "0.0.0.0" == settings.server.host == settings.events.host
    # The image's DAMSYNC_SERVER__PORT wins over the file: the file must not say otherwise.
    written = tomllib.loads(get("ConfigMap")["data"]["damsync.toml"])
    assert settings.server.port == written["server"]["port"]
    assert settings.events.port == written["events"]["port"]
    assert settings.server.port == container_port("metrics")
    assert settings.events.port == container_port("webhooks")
    container = daemon()
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        check = container[probe]["httpGet"]
        assert (path, "metrics") == (check["path"], check["port"]), probe
    # /readyz waits up to 5 s for its checks: the probe must wait longer.
    assert container["readinessProbe"]["timeoutSeconds"] > 5
    service_ports = {p["name"]: p for p in get("Service")["spec"]["ports"]}
    assert {"metrics", "webhooks"} == set(service_ports)
    for name, port in service_ports.items():
        assert name == port["targetPort"]


@pytest.mark.parametrize(("kind", "name"), [("Deployment", "damsync"), ("Job", "damsync-migrate")])
def test_pods_run_as_the_image_user_with_a_read_only_root(kind, name):
    """Non-root as the image's uid/gid, no privilege, no capability, RuntimeDefault seccomp."""
    uid = image_uid()
    spec = pod_spec(kind, name)
    pod = spec["securityContext"]
    assert (True, uid, uid) == (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"])
    assert "RuntimeDefault" == pod["seccompProfile"]["type"]
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert (uid, uid) == (context["runAsUser"], context["runAsGroup"])
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert ["ALL"] == context["capabilities"]["drop"]
    assert "RuntimeDefault" == context["seccompProfile"]["type"]
    mount, volume = mount_for(spec, "/tmp")
    assert "/tmp" == mount["mountPath"]
    assert "emptyDir" in volume
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])


def test_the_spool_is_a_writable_empty_dir_within_the_storage_limit(tmp_path):
    """runtime.spool_dir is an emptyDir; the storage limit holds every emptyDir."""
    settings = daemon_settings(tmp_path)
    assert settings.runtime.spool_dir is not None
    assert settings.runtime.pid_file is None, "the working directory is read-only"
    spec = pod_spec("Deployment", "damsync")
    mount, volume = mount_for(spec, settings.runtime.spool_dir)
    assert not mount.get("readOnly") and "emptyDir" in volume
    sizes = [v["emptyDir"]["sizeLimit"] for v in spec["volumes"] if "emptyDir" in v]
    assert all(size.endswith("Gi") for size in sizes)
    limit = daemon()["resources"]["limits"]["ephemeral-storage"]
    assert sum(int(size[:-2]) for size in sizes) < int(limit.removesuffix("Gi"))


def test_termination_grace_covers_the_drain(tmp_path):
    """The pod waits for preStop, runtime.shutdown_grace and the closing before SIGKILL."""
    settings = daemon_settings(tmp_path)
    command = daemon()["lifecycle"]["preStop"]["exec"]["command"]
    assert "sleep" == command[0]
    grace = pod_spec("Deployment", "damsync")["terminationGracePeriodSeconds"]
    assert int(command[1]) + settings.runtime.shutdown_grace + CLOSE_MARGIN <= grace


def test_two_replicas_spread_and_a_budget_that_keeps_one(tmp_path):
    """Two replicas prefer different nodes; the PDB and the Service select exactly them."""
    deployment = get("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    assert 2 == deployment["spec"]["replicas"]
    assert 0 == deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"]
    budget = get("PodDisruptionBudget")["spec"]
    assert 1 == budget["minAvailable"]
    assert selector == budget["selector"]["matchLabels"]
    assert selector == get("Service")["spec"]["selector"]
    (term,) = pod_spec("Deployment", "damsync")["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert "kubernetes.io/hostname" == term["podAffinityTerm"]["topologyKey"]
    assert selector == term["podAffinityTerm"]["labelSelector"]["matchLabels"]
    # The migration Job's pods are no daemon pods: the PDB and the Service must not pick them.
    job_labels = pod_spec_labels("Job", "damsync-migrate")
    assert not selector.items() <= job_labels.items()


def test_migration_job_upgrades_the_daemons_database_before_the_rollout():
    """`damsync db upgrade` on the store URL of the daemon; applied by the first, filtered step."""
    (job,) = pod_spec("Job", "damsync-migrate")["containers"]
    assert ["db", "upgrade"] == job["args"][:2]
    assert "Never" == pod_spec("Job", "damsync-migrate")["restartPolicy"]
    assert daemon()["image"] == job["image"]
    refs = {e["name"]: e.get("valueFrom") for e in job["env"]}
    daemon_refs = {e["name"]: e.get("valueFrom") for e in daemon()["env"]}
    assert daemon_refs["DAMSYNC_STORE__URL"] == refs["DAMSYNC_DATABASE_URL"]
    assert daemon_refs["PGPASSWORD"] == refs["PGPASSWORD"]
    # Step 1 of docs/deployment.md applies `-l app.kubernetes.io/component!=daemon`: the Job
    # and all it needs, and not the Deployment.
    first_step = {
        key
        for key, obj in objects().items()
        if obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "daemon"
    }
    needed = {("Job", "damsync-migrate"), ("Secret", "damsync"), ("ServiceAccount", "damsync")}
    assert needed <= first_step
    assert ("Deployment", "damsync") not in first_step
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert "kubectl apply -k deploy/kubernetes -l 'app.kubernetes.io/component!=daemon'" in text


def test_service_monitor_scrapes_the_metrics_port_as_job_damsync():
    """The optional ServiceMonitor selects the Service, its metrics port and job="damsync"."""
    monitor = get("ServiceMonitor")
    assert "monitoring.coreos.com/v1" == monitor["apiVersion"]
    service = get("Service")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
    assert ("metrics", "/metrics") == (endpoint["port"], endpoint["path"])
    assert "damsync" == labels[monitor["spec"]["jobLabel"]]
