"""Where images live: one small class per kind of location, behind one protocol (`Transport`),
so that one copy algorithm (`ops.transfer`) moves images between any two of them.

    Registry   oci://HOST/REPO:TAG     the distribution API
    Store      local://DIR             a KubeKey store, layout L1 (read: L1 and L2)
"""

from .base import BlobOutcome, Transport
from .registry import RegistryTransport
from .store import StoreTransport

__all__ = ["BlobOutcome", "RegistryTransport", "StoreTransport", "Transport"]
