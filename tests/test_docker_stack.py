"""The docker/ stack, checked without a container engine.

The compose file, the Dockerfile and the files they mount are read as text. The tests check that
each referenced file exists and each hub command is one the ``cites-hub`` parser accepts. They
also check that the image runs as a non-root user without compilers and that no password is
written inline.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from hub import config as hub_config
from hub.cli import build_parser
from tests.conftest import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
HUB_CONFIG = DOCKER / "hub.yaml"
SERVICES = {"rabbitmq", "postgres", "api", "worker", "prometheus", "grafana"}
HUB_SERVICES = ("api", "worker")
SECRET_NAME = re.compile(r"PASS|PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
REQUIRED_VARIABLE = re.compile(r"^\$\{(\w+):\?[^}]+\}$")
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|build-essential|make|[\w.+-]+-dev)\b")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _service(name: str) -> dict:
    return _compose()["services"][name]


def _bind_mounts(service: dict) -> dict[str, Path]:
    """Host path of each bind mount, by container path. Named volumes are left out."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (DOCKER / source).resolve()
    return mounts


def parse_command(words: list[str]) -> argparse.Namespace:
    """Parse ``cites-hub`` arguments, failing the test with the command where argparse would exit."""
    try:
        return build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"'cites-hub {shlex.join(words)}' is not a valid cites-hub command")


def _mounted_file(service: str, target: str) -> Path:
    mounts = _bind_mounts(_service(service))
    assert target in mounts, f"service {service} mounts nothing at {target}; mounts: {sorted(mounts)}"
    return mounts[target]


# -- Dockerfile --------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [arguments for name, arguments in self.instructions if name == instruction]


def dockerfile_stages(path: Path) -> list[Stage]:
    """Split a Dockerfile into its stages, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = arguments.split()
            stages.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
            continue
        assert stages, f"{path}: {instruction} before the first FROM"
        stages[-1].instructions.append((instruction, arguments.strip()))
    return stages


@pytest.fixture(scope="module")
def hub_build() -> dict:
    return _service("api")["build"]


@pytest.fixture(scope="module")
def stages(hub_build) -> list[Stage]:
    return dockerfile_stages(DOCKER / hub_build["context"] / hub_build["dockerfile"])


def test_dockerfile_stages_use_slim_python(stages):
    assert len(stages) >= 2
    assert {stage.base for stage in stages} == {"python:3.11-slim"}


def test_final_stage_installs_built_wheel(stages):
    build, final = stages[0], stages[-1]

    copies = final.arguments("COPY")
    runs = " ".join(final.arguments("RUN"))

    assert any(f"--from={build.name}" in arguments for arguments in copies), copies
    assert "pip install --no-index" in runs
    assert "cites-hub" in runs


def test_final_stage_runs_as_a_non_root_user(stages):
    users = stages[-1].arguments("USER")

    assert users, "the final stage sets no USER, so the hub would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_final_stage_installs_no_compiler(stages):
    runs = stages[-1].arguments("RUN")

    for command in runs:
        assert not COMPILERS.search(command), f"the final stage installs a compiler: {command}"


def test_healthcheck_calls_healthz_on_api_port(stages, hub_environment):
    checks = stages[-1].arguments("HEALTHCHECK")
    port = hub_config.load(HUB_CONFIG).api.port

    assert len(checks) == 1
    assert f"127.0.0.1:{port}/healthz" in checks[0]


def test_entrypoint_is_cites_hub_and_cmd_parses(stages):
    entrypoint = json.loads(stages[-1].arguments("ENTRYPOINT")[-1])
    command = json.loads(stages[-1].arguments("CMD")[-1])

    assert entrypoint == ["cites-hub"]
    parse_command(command)


def test_build_stage_copies_every_packaged_folder(stages):
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    folders = {pattern.rstrip("*") for pattern in patterns}

    copied = {arguments.split()[0] for arguments in stages[0].arguments("COPY")}

    assert folders <= copied, f"the build stage does not copy {sorted(folders - copied)}"
    assert {"pyproject.toml", "README.md"} <= {word for arguments in stages[0].arguments("COPY")
                                               for word in arguments.split()}


# -- compose -----------------------------------------------------------------------------------------


def test_compose_has_every_service():
    services = set(_compose()["services"])

    assert SERVICES <= services, f"missing services: {sorted(SERVICES - services)}"


@pytest.mark.parametrize("service", HUB_SERVICES)
def test_hub_service_builds_from_repository(service):
    build = _service(service)["build"]

    context = (DOCKER / build["context"]).resolve()

    assert context == REPO_ROOT.resolve()
    assert (context / build["dockerfile"]).is_file()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_bind_mounted_files_exist(service):
    mounts = _bind_mounts(_service(service))

    for target, source in mounts.items():
        assert source.exists(), f"service {service} mounts {source} at {target}, which does not exist"


@pytest.mark.parametrize("service, role", [("api", "api"), ("worker", "worker")])
def test_hub_command_parses(service, role):
    definition = _service(service)
    command = definition["command"]
    if isinstance(command, str):
        command = shlex.split(command)

    arguments = parse_command(command)

    assert definition.get("entrypoint", ["cites-hub"]) == ["cites-hub"]
    assert arguments.command == "run"
    assert arguments.role == role
    assert _mounted_file(service, str(arguments.config)) == HUB_CONFIG.resolve()


def test_workers_are_scalable():
    worker = _service("worker")

    assert worker["deploy"]["replicas"] >= 1
    assert "container_name" not in worker
    assert "ports" not in worker


def test_workers_wait_for_healthy_api():
    depends_on = _service("worker")["depends_on"]

    assert depends_on["api"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_secrets_come_from_environment(service):
    environment = _service(service).get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)

    for name, value in environment.items():
        if SECRET_NAME.search(name):
            assert REQUIRED_VARIABLE.match(str(value)), (
                f"service {service}: {name} is {value!r}; expected ${{VARIABLE:?message}} with no default")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_published_ports_listen_on_loopback(service):
    for port in _service(service).get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"service {service} publishes {port} on every interface"


@pytest.mark.parametrize("service", sorted(SERVICES - set(HUB_SERVICES)))
def test_images_are_pinned(service):
    image = _service(service)["image"]

    assert ":" in image, f"service {service}: image {image} has no tag"
    assert not image.endswith(":latest"), f"service {service}: image {image} is not pinned"


def test_rabbitmq_image_supports_quorum_queues():
    image = _service("rabbitmq")["image"]

    version = re.match(r"rabbitmq:(\d+)\.(\d+)", image)

    assert version, image
    assert (int(version.group(1)), int(version.group(2))) >= (3, 8)


# -- the hub's configuration -------------------------------------------------------------------------


def _placeholders(value: object) -> set[str]:
    """The NAME of every ${NAME} in the strings of a YAML document."""
    if isinstance(value, dict):
        return set().union(*(_placeholders(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_placeholders(item) for item in value))
    return set(PLACEHOLDER.findall(value)) if isinstance(value, str) else set()


@pytest.fixture
def hub_environment(monkeypatch) -> dict[str, str]:
    """Set every ${NAME} that docker/hub.yaml uses to a stand-in value."""
    names = _placeholders(yaml.safe_load(HUB_CONFIG.read_text(encoding="utf-8")))
    values = {name: "0" * 64 for name in names}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_hub_configuration_validates(hub_environment):
    config = hub_config.load(HUB_CONFIG)

    assert config.broker.url.startswith("amqp://")
    assert config.journal_url.startswith("postgresql+psycopg://")
    assert config.api.host == "0.0.0.0"
    assert config.routes


def test_hub_configuration_has_no_password(hub_environment):
    raw = yaml.safe_load(HUB_CONFIG.read_text(encoding="utf-8"))

    broker_credentials = re.match(r"amqp://([^@/]*)@", raw["broker"]["url"]).group(1)
    journal_credentials = re.match(r"[\w+]+://([^@/]*)@", raw["journal"]["url"]).group(1)

    assert PLACEHOLDER.fullmatch(broker_credentials.partition(":")[2]), broker_credentials
    assert ":" not in journal_credentials, "the journal URL carries a password; libpq reads PGPASSWORD instead"


@pytest.mark.parametrize("service", HUB_SERVICES)
def test_hub_services_get_config_variables(service, hub_environment):
    environment = _service(service)["environment"]

    missing = set(hub_environment) - set(environment)

    assert not missing, f"service {service} does not pass {sorted(missing)}, which docker/hub.yaml uses"
    assert "PGPASSWORD" in environment


# -- Prometheus and Grafana --------------------------------------------------------------------------


def test_prometheus_loads_mounted_rule_file():
    mounts = _bind_mounts(_service("prometheus"))
    settings = yaml.safe_load(_mounted_file("prometheus", "/etc/prometheus/prometheus.yml").read_text("utf-8"))

    for rule_file in settings["rule_files"]:
        assert rule_file in mounts, f"prometheus.yml loads {rule_file}, which compose.yaml does not mount"
        assert mounts[rule_file] == (REPO_ROOT / "monitoring" / "prometheus" / "alerts.yml").resolve()


def test_prometheus_scrapes_api_and_workers(hub_environment):
    settings = yaml.safe_load(_mounted_file("prometheus", "/etc/prometheus/prometheus.yml").read_text("utf-8"))
    port = hub_config.load(HUB_CONFIG).api.port
    jobs = {job["job_name"]: job for job in settings["scrape_configs"]}

    api_targets = [target for config in jobs["cites-hub-api"]["static_configs"] for target in config["targets"]]
    worker_lookup = jobs["cites-hub-worker"]["dns_sd_configs"][0]

    assert api_targets == [f"api:{port}"]
    assert worker_lookup["names"] == ["worker"]
    assert worker_lookup["port"] == port


def test_grafana_datasource_is_stack_prometheus():
    provisioning = _mounted_file("grafana", "/etc/grafana/provisioning")
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text("utf-8"))

    urls = [source["url"] for source in datasources["datasources"] if source["type"] == "prometheus"]

    assert urls == ["http://prometheus:9090"]
    assert "prometheus" in _compose()["services"]


def test_grafana_provisions_mounted_dashboard():
    provisioning = _mounted_file("grafana", "/etc/grafana/provisioning")
    providers = yaml.safe_load((provisioning / "dashboards" / "cites-hub.yaml").read_text("utf-8"))["providers"]
    mounts = _bind_mounts(_service("grafana"))

    paths = [provider["options"]["path"] for provider in providers]
    dashboards = [target for target in mounts if any(target.startswith(path + "/") for path in paths)]

    assert dashboards, f"no dashboard is mounted under {paths}"
    assert mounts[dashboards[0]] == (REPO_ROOT / "monitoring" / "grafana" / "cites-hub.json").resolve()


# -- documentation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("readme", ["docker/README.md", "monitoring/README.md"])
def test_readme_commands_parse(readme):
    text = (REPO_ROOT / readme).read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [line.split(" #", 1)[0] for block in blocks for line in block.splitlines()]

    commands = [shlex.split(line.partition("cites-hub ")[2]) for line in lines if "cites-hub " in line]

    assert commands, f"{readme} shows no cites-hub command"
    for words in commands:
        parse_command(words)
