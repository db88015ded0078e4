"""Find adapter classes: the built-in ones and those registered by other packages.

A third-party package registers its adapter under the entry point group ``cites_hub.adapters``
(``name = "package.module:AdapterClass"``); the hub finds it without any change to the hub.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

from adapters.base import Adapter
from hub.errors import ConfigError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cites_hub.adapters"
BUILT_IN = {
    "stub": "adapters.stub:StubAdapter",
    "permit_store": "adapters.permit_store:PermitStoreAdapter",
    "customs": "adapters.customs:CustomsAdapter",
    "ncen": "adapters.ncen:NcenAdapter",
    "twix": "adapters.twix:TwixAdapter",
    "etis": "adapters.etis:EtisAdapter",
    "epix": "adapters.epix:EpixAdapter",
}


@dataclass(frozen=True)
class AdapterEntry:
    name: str
    target: str
    origin: str


def _import(target: str) -> type[Adapter]:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    adapter_class = getattr(module, attribute)
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, Adapter)):
        raise ConfigError(f"'{target}' is not a subclass of adapters.base.Adapter")
    return adapter_class


def discover() -> dict[str, AdapterEntry]:
    """Every adapter found, by name; a built-in name cannot be taken by another package."""
    found = {name: AdapterEntry(name, target, "built-in") for name, target in BUILT_IN.items()}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILT_IN:
            continue
        package = entry.dist.name if entry.dist else "unknown package"
        found[entry.name] = AdapterEntry(entry.name, entry.value, package)
    return found


def load(name: str) -> type[Adapter]:
    """Return the adapter class registered as ``name``; ConfigError names the known ones."""
    entries = discover()
    if name not in entries:
        raise ConfigError(f"adapter '{name}' is not installed; found: {', '.join(sorted(entries))}")
    try:
        return _import(entries[name].target)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"adapter '{name}' ({entries[name].target}) cannot be loaded: {error}") from error
