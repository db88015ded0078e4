"""Every command of the README, run as a new user would run it."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.server import free_port
from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands():
    """The `cites-hub` command lines of the README's code blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith((".venv/bin/cites-hub", "curl "))]


def cites_hub(arguments, cwd, **kwargs):
    return subprocess.run([str(BIN / "cites-hub"), *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_readme_starts_with_install_and_test_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.S).group(1).splitlines()

    assert first_block[0].endswith("cites-hub demo")
    assert first_block[1].endswith("pytest")


def test_demo_command_of_the_first_line_runs(tmp_path):
    result = cites_hub(["demo"], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "route permits-to-customs -> customs" in result.stdout
    assert "delivered" in result.stdout


def test_first_session_commands_run_in_order(tmp_path):
    commands = readme_commands()
    port = free_port()
    server = None
    try:
        for line in commands:
            if line.startswith("curl "):
                shell = line.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                answer = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True,
                                        timeout=60)
                assert answer.returncode == 0 and '"permit"' in answer.stdout, f"{line}\n{answer.stdout}"
                continue
            arguments = line.split()[1:]
            arguments = [str(REPO_ROOT / a) if a.startswith("examples/") else a for a in arguments]
            arguments = [_glob(tmp_path, a) for a in arguments]
            if arguments[-1] == "&":
                server = subprocess.Popen([str(BIN / "cites-hub"), *arguments[:-1], "--port", str(port)],
                                          cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _wait_ready(port)
                continue
            if arguments[0] == "send":
                arguments += ["--url", f"http://127.0.0.1:{port}"]
            result = cites_hub(arguments, cwd=tmp_path)
            assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
            time.sleep(0.5 if arguments[0] == "send" else 0)
        trace_line = next(line for line in commands if " trace " in line and "cites-hub" in line)
        trace = cites_hub(trace_line.split()[1:], cwd=tmp_path).stdout
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)
    assert "permit.cancelled" in trace
    assert trace.count("delivered") >= 2


def _glob(folder, argument):
    """Expand a shell pattern as the shell would, relative to the command's folder."""
    if "*" not in argument:
        return argument
    matches = sorted(folder.glob(argument))
    return str(matches[0]) if matches else argument


def _wait_ready(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"cites-hub run did not become ready on port {port}")
