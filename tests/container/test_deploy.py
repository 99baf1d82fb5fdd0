"""
The deployment files without a container engine: Dockerfile, compose file, Prometheus config.

There is no ``docker compose`` here, so the compose file is checked as YAML: services,
healthchecks, ``depends_on`` conditions, volumes and the files it mounts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.settings.root import ServerSettings, load_settings
from tests.container.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    """The parsed compose file."""
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text("utf-8"))
    return data


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_runs_damsync_in_exec_form_as_non_root():
    """The final stage runs `damsync run` in exec form as a numeric non-root user."""
    steps = instructions()
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    values = {k: v for k, v in final}
    assert ["damsync"] == json.loads(values["ENTRYPOINT"])
    assert ["run"] == json.loads(values["CMD"])
    assert "${DAMSYNC_UID}:${DAMSYNC_UID}" == values["USER"]
    assert "DAMSYNC_UID=10001" in [v for k, v in final if k == "ARG"]
    assert "DAMSYNC_CONFIG=/etc/damsync/damsync.toml" in values["ENV"]
    assert "DAMSYNC_SERVER__HOST=0.0.0.0" in values["ENV"]


def test_dockerfile_base_is_an_argument_and_pins_come_from_constraints():
    """Both stages build FROM ${PYTHON_IMAGE} and pip installs with -c constraints.txt."""
    steps = instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.12-slim") == steps[0]
    froms = [v for k, v in steps if k == "FROM"]
    assert ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"] == froms
    installs = [v for k, v in steps if k == "RUN" and "pip install" in v]
    assert 2 == len(installs)
    assert all("-c constraints.txt" in v for v in installs)


def test_dockerfile_healthcheck_uses_python_on_healthz():
    """The HEALTHCHECK asks /healthz with python3's urllib (no curl in the image)."""
    values = dict(instructions())
    options, _, command = values["HEALTHCHECK"].partition("CMD ")
    test = json.loads(command)
    assert ["python3", "-c"] == test[:2]
    assert "/healthz" in test[2]
    assert "--timeout=5s" in options


def test_dockerignore_keeps_what_the_build_copies():
    """Every path the Dockerfile copies from the context is re-included by .dockerignore."""
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for keyword, value in instructions():
        if keyword == "COPY" and not value.startswith("--from"):
            copied.update(value.split()[:-1])
    assert copied == kept
    assert all((ROOT / path).exists() for path in copied)


def test_compose_services_and_profiles():
    """PostgreSQL, migrations, damsync, Prometheus and Grafana; the simulators in `try`."""
    services = compose()["services"]
    expected = {"postgres", "migrate", "damsync", "pim-sim", "dam-sim", "prometheus", "grafana"}
    assert expected == set(services)
    assert {"pim-sim": ["try"], "dam-sim": ["try"]} == {
        name: s["profiles"] for name, s in services.items() if "profiles" in s
    }
    assert ["db", "upgrade"] == services["migrate"]["command"]
    assert "no" == services["migrate"]["restart"]
    assert ["run"] == services["damsync"]["command"]
    ours = [name for name, s in services.items() if "damsync" in s["image"]]
    assert {"migrate", "damsync", "pim-sim", "dam-sim"} == set(ours)
    # Each builds the image from the repository, so compose never pulls it from a registry.
    assert all({"context": "..", "dockerfile": "Dockerfile"} == services[n]["build"] for n in ours)


def test_compose_start_order_waits_on_health_and_migrations():
    """damsync starts after a healthy PostgreSQL and a successful migration run."""
    services = compose()["services"]
    assert {"postgres": {"condition": "service_healthy"}} == services["migrate"]["depends_on"]
    depends = services["damsync"]["depends_on"]
    assert "service_healthy" == depends["postgres"]["condition"]
    assert "service_completed_successfully" == depends["migrate"]["condition"]
    # The simulators only exist with --profile try: optional dependencies.
    assert all(
        depends[s] == {"condition": "service_healthy", "required": False}
        for s in ("pim-sim", "dam-sim")
    )
    assert "service_healthy" == services["grafana"]["depends_on"]["prometheus"]["condition"]


@pytest.mark.parametrize(
    "service", ["postgres", "damsync", "pim-sim", "dam-sim", "prometheus", "grafana"]
)
def test_compose_long_running_services_have_healthchecks(service):
    """Each long-running service has an exec-form healthcheck."""
    check = compose()["services"][service]["healthcheck"]
    assert "CMD" == check["test"][0]
    assert 0 < check["retries"]


def test_compose_damsync_stop_grace_exceeds_shutdown_grace():
    """Compose waits longer than runtime.shutdown_grace before it kills damsync."""
    grace = compose()["services"]["damsync"]["stop_grace_period"]
    settings = load_settings(DEPLOY / "damsync.toml", _secrets())
    assert settings.runtime.shutdown_grace < float(grace.rstrip("s"))


def test_compose_volumes_are_declared_and_mounted_files_exist():
    """Named volumes are declared; every bind-mounted file or folder exists in the repo."""
    data = compose()
    declared = set(data["volumes"])
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: {source}"
    assert {"pgdata", "prometheus-data", "grafana-data"} == declared


def _secrets() -> dict[str, str]:
    environment = compose()["services"]["damsync"]["environment"]
    return {k: str(v) for k, v in environment.items() if not k.startswith("DAMSYNC_")}


def test_compose_config_is_valid_and_keeps_secrets_in_the_environment():
    """deploy/damsync.toml validates with the compose environment and holds no secret."""
    environment = compose()["services"]["damsync"]["environment"]
    settings = load_settings(DEPLOY / "damsync.toml", {**environment, **_secrets()})
    assert "demo" == settings.sources[0].name
    assert "0.0.0.0" == settings.server.host
    text = (DEPLOY / "damsync.toml").read_text(encoding="utf-8")
    for secret in ("demo_secret", "demo-token", 'password = "demo"'):
        assert secret not in text
    # No password in the URL: libpq reads PGPASSWORD.
    assert "postgresql+psycopg://damsync@postgres:5432/damsync" == settings.store.url


def test_prometheus_scrapes_damsync_job_on_the_server_port():
    """The compose Prometheus scrapes job `damsync` on the daemon's port and loads the alerts."""
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert "damsync" == job["job_name"]
    port = ServerSettings().port
    assert [f"damsync:{port}"] == job["static_configs"][0]["targets"]
    mounts = compose()["services"]["prometheus"]["volumes"]
    assert "../config/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert ["/etc/prometheus/alerts.yml"] == config["rule_files"]
    assert f"{port}:{port}" in compose()["services"]["damsync"]["ports"]


def test_grafana_is_provisioned_with_the_dashboard():
    """Grafana mounts the provisioning files and the dashboard folder they point at."""
    mounts = compose()["services"]["grafana"]["volumes"]
    provider = yaml.safe_load(
        (ROOT / "config/grafana/provisioning/dashboards/damsync.yaml").read_text("utf-8")
    )
    path = provider["providers"][0]["options"]["path"]
    assert f"../config/grafana/dashboards:{path}:ro" in mounts
    datasource = yaml.safe_load(
        (ROOT / "config/grafana/provisioning/datasources/prometheus.yaml").read_text("utf-8")
    )
    assert "http://prometheus:9090" == datasource["datasources"][0]["url"]


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_buildah_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    """Without buildah the image tests fail when CI=true and skip otherwise."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="buildah is not installed"):
        unavailable("buildah is not installed")
