"""The national permit system (eCITES): its adapter and simulator."""

from adapters.permit_store.adapter import PermitStoreAdapter, PermitStoreOptions
from adapters.permit_store.simulator import PermitStoreSimulator

__all__ = sorted(["PermitStoreAdapter", "PermitStoreOptions", "PermitStoreSimulator"])
