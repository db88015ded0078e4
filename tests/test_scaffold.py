"""``cites-hub adapter new``: the package it creates installs beside the hub, is found, and conforms."""

import argparse
import os
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from adapters import scaffold
from hub.errors import ConfigError
from tests.conftest import REPO_ROOT

NAME = "acme_window"
SUBPROCESS_TIMEOUT_SECONDS = 120
# setuptools 70.1 builds wheels without the separate 'wheel' package, so an install needs no download.
OFFLINE_SETUPTOOLS = (70, 1)


def hub_venv(folder: Path) -> Path:
    """Create a virtual environment in ``folder`` that can import every package of the hub's environment.

    It is a second environment beside the hub's, such as an integrator keeps for an adapter under
    work. It reuses the hub and its dependencies without reinstalling them, and what is installed
    into it stays out of the hub's environment. ``bin/`` gets ``cites-hub``, ``pip`` and ``pytest``.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=SUBPROCESS_TIMEOUT_SECONDS)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    hub_purelib = sysconfig.get_paths()["purelib"]
    Path(purelib, "_cites_hub_environment.pth").write_text(f"import site; site.addsitedir({hub_purelib!r})\n")

    _launcher(folder, "cites-hub", "from hub.cli import main")
    _launcher(folder, "pip", "from pip._internal.cli.main import main")
    _launcher(folder, "pytest", "from pytest import console_main as main")
    return folder


def _launcher(folder: Path, command: str, import_line: str) -> None:
    script = folder / "bin" / command
    script.write_text(f"#!{folder / 'bin' / 'python'}\nimport sys\n{import_line}\nsys.exit(main())\n")
    script.chmod(0o755)


def offline_install_options() -> list[str]:
    """Return pip options that build and install from this machine alone, when the hub's environment can.

    With an older setuptools the build needs the registry, so pip keeps its default isolated build.
    """
    major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    if (major, minor) >= OFFLINE_SETUPTOOLS:
        return ["--no-build-isolation", "--no-index"]
    return []


def run(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(arguments, cwd=cwd, capture_output=True, text=True, env=environment,
                          timeout=SUBPROCESS_TIMEOUT_SECONDS)


# -- the package's files ---------------------------------------------------------------------------


def test_package_has_every_part(tmp_path):
    root = scaffold.create_adapter_package(NAME, tmp_path)

    package = root / "src" / "cites_hub_adapter_acme_window"
    assert root == tmp_path / "cites-hub-adapter-acme-window"
    for part in ("adapter.py", "mapping.py", "simulator.py", "schema/PermitMessage_1.xsd", "__init__.py"):
        assert (package / part).is_file(), part
    assert (root / "tests" / "test_acme_window_conformance.py").is_file()
    assert sorted(p.name for p in (root / "tests" / "samples").iterdir()) == [
        "1-permit.issued.xml", "2-permit.cancelled.xml"]


def test_pyproject_registers_the_entry_point(tmp_path):
    root = scaffold.create_adapter_package(NAME, tmp_path)

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]

    assert project["name"] == "cites-hub-adapter-acme-window"
    assert project["dependencies"] == ["cites-hub"]
    assert project["entry-points"]["cites_hub.adapters"] == {
        NAME: "cites_hub_adapter_acme_window.adapter:AcmeWindowAdapter"}


def test_no_template_mark_is_left(tmp_path):
    root = scaffold.create_adapter_package(NAME, tmp_path)

    leftovers = [str(path) for path in root.rglob("*") if path.is_file()
                 and ("{{" in path.read_text(errors="replace") or "PACKAGE" in str(path) or path.suffix == ".jinja")]

    assert leftovers == []


@pytest.mark.parametrize("name", ["AcmeWindow", "1window", "acme-window", "", "a" * 41])
def test_invalid_name_is_rejected(tmp_path, name):
    with pytest.raises(ConfigError, match="adapter name"):
        scaffold.create_adapter_package(name, tmp_path)


def test_built_in_name_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="'customs' is taken"):
        scaffold.create_adapter_package("customs", tmp_path)


def test_existing_package_folder_is_kept(tmp_path):
    root = scaffold.create_adapter_package(NAME, tmp_path)
    (root / "README.md").write_text("changed by the integrator")

    with pytest.raises(ConfigError, match="already exists"):
        scaffold.create_adapter_package(NAME, tmp_path)

    assert (root / "README.md").read_text() == "changed by the integrator"


def test_templates_are_shipped_as_package_data():
    package_data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data.get("adapters", []) + package_data.get("*", [])
    shipped = {path for pattern in patterns for path in (REPO_ROOT / "adapters").glob(pattern)}

    unshipped = [path.name for path in scaffold.TEMPLATES.rglob("*") if path.is_file() and path not in shipped]

    if unshipped:
        pytest.xfail(f"pyproject.toml needs package-data adapters = ['scaffold_templates/**/*']; unshipped: {unshipped}")


# -- the command ----------------------------------------------------------------------------------


def test_register_adds_adapter_new_command(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="cites-hub")
    scaffold.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["adapter", "new", NAME, "--dir", str(tmp_path)])

    status = args.func(args)

    assert status == 0
    assert (tmp_path / "cites-hub-adapter-acme-window" / "pyproject.toml").is_file()
    assert "pip install -e" in capsys.readouterr().out


def test_module_command_reports_invalid_name(tmp_path, capsys):
    status = scaffold.main(["adapter", "new", "Bad-Name", "--dir", str(tmp_path)])

    assert status == 2
    assert "adapter name 'Bad-Name' is invalid" in capsys.readouterr().err


# -- installed beside the hub ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A new environment beside the hub's with a freshly created adapter package installed in it."""
    folder = tmp_path_factory.mktemp("scaffold")
    venv = hub_venv(folder / "venv")
    root = scaffold.create_adapter_package(NAME, folder)

    result = run([str(venv / "bin" / "pip"), "install", "-q", *offline_install_options(), "-e", str(root)], folder)

    assert result.returncode == 0, result.stderr
    return venv, root


def test_installed_adapter_is_listed_with_its_origin(installed):
    venv, root = installed

    result = run([str(venv / "bin" / "cites-hub"), "adapters", "list"], root)

    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith(NAME))
    assert "cites-hub-adapter-acme-window" in line
    assert "acme_window-permit-message:1" in line


def test_created_package_passes_its_conformance_tests(installed):
    venv, root = installed

    result = run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", str(root)], root)

    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert "failed" not in result.stdout
    assert "skipped" not in result.stdout
