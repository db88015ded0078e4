"""``cites-hub adapter new NAME``: create the package of a new adapter, ready to install and test.

The package is separate from the hub (``cites-hub-adapter-NAME``) and is found by the hub through
the entry point group ``cites_hub.adapters``. Its adapter POSTs an XML document to one HTTP
endpoint. Beside it are the mapping from the canonical permit and back, the schema of the
document, a simulator of the receiving system, canonical sample messages, and tests that subclass
the hub's conformance suite. The tests pass as created, and the integrator then changes the
mapping, the schema and the simulator to match the real system.

The files are rendered from the Jinja2 templates in ``scaffold_templates/``: a file ending in
``.jinja`` is rendered and loses that suffix, any other file is copied unchanged, and the path
parts ``PACKAGE``, ``NAME`` and ``SCHEMA.xsd`` are replaced by the package, adapter and schema
file names.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jinja2

from adapters.registry import BUILT_IN
from hub.errors import ConfigError, HubError

TEMPLATES = Path(__file__).resolve().parent / "scaffold_templates"
TEMPLATE_SUFFIX = ".jinja"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def template_values(name: str) -> dict[str, str]:
    """Return the names derived from the adapter name, as the templates use them."""
    class_prefix = "".join(part.capitalize() for part in name.split("_") if part)
    return {
        "name": name,
        "class_prefix": class_prefix,
        "package": f"cites_hub_adapter_{name}",
        "distribution": f"cites-hub-adapter-{name.replace('_', '-')}",
        "namespace": f"urn:cites-hub-adapter:{name}:permit-message:1",
        "format": f"{name}-permit-message:1",
        "schema_file": "PermitMessage_1.xsd",
    }


def check_name(name: str) -> None:
    """Raise ConfigError unless ``name`` can name an adapter, its package and its entry point."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"adapter name '{name}' is invalid; expected 1 to 40 lower-case letters, digits and underscores, "
            "starting with a letter, e.g. single_window"
        )
    if name in BUILT_IN:
        raise ConfigError(f"adapter name '{name}' is taken by a built-in adapter; choose another name")


def create_adapter_package(name: str, target: Path) -> Path:
    """Create the package ``cites-hub-adapter-NAME`` in the folder ``target`` and return its path.

    Raises ConfigError when the name is invalid or taken, or when the package folder already exists.
    """
    check_name(name)
    values = template_values(name)
    root = Path(target) / values["distribution"]
    if root.exists():
        raise ConfigError(f"folder {root} already exists; choose another --dir or remove it")

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # The output is Python, TOML, XML and Markdown, never HTML, so escaping would corrupt it.
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    for template in sorted(path for path in TEMPLATES.rglob("*") if path.is_file()):
        _write(environment, template, root, values)
    return root


def _write(environment: jinja2.Environment, template: Path, root: Path, values: dict[str, str]) -> None:
    relative = template.relative_to(TEMPLATES).as_posix()
    output = root / _output_path(relative, values)
    output.parent.mkdir(parents=True, exist_ok=True)

    if relative.endswith(TEMPLATE_SUFFIX):
        output.write_text(environment.get_template(relative).render(values), encoding="utf-8")
    else:
        output.write_bytes(template.read_bytes())


def _output_path(relative: str, values: dict[str, str]) -> str:
    parts = []
    for part in relative.removesuffix(TEMPLATE_SUFFIX).split("/"):
        part = part.replace("SCHEMA.xsd", values["schema_file"])
        parts.append(part.replace("PACKAGE", values["package"]).replace("NAME", values["name"]))
    return "/".join(parts)


# -- command line -----------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``adapter new NAME [--dir DIR]`` to the subcommands of the ``cites-hub`` parser."""
    adapter = commands.add_parser("adapter", help="create the package of a new adapter")
    adapter_commands = adapter.add_subparsers(dest="adapter_command", required=True, metavar="COMMAND")
    new = adapter_commands.add_parser(
        "new", help="create cites-hub-adapter-NAME: adapter, mapping, schema, simulator, samples and tests"
    )
    new.add_argument("name", help="adapter name: lower-case letters, digits and underscores, e.g. single_window")
    new.add_argument("--dir", type=Path, default=Path("."), help="folder to create the package in (default: the current one)")
    new.set_defaults(func=cmd_adapter_new)


def cmd_adapter_new(args: argparse.Namespace) -> int:
    """Create the package and print where it is and what to run next."""
    root = create_adapter_package(args.name, args.dir)
    print(f"created {root}")
    print("next: install it beside the hub and run its conformance tests:")
    print(f"  pip install -e {root}")
    print(f"  pytest {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``adapter new`` without the hub's CLI: ``python -m adapters.scaffold adapter new NAME``."""
    parser = argparse.ArgumentParser(prog="python -m adapters.scaffold")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HubError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
