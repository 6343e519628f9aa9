"""Boundary sets (wards, districts, Local Police Areas) for the hotspot tool.

The bundled set is Oxfordshire, December 2019 (see boundaries/PROVENANCE.md); analysts elsewhere
describe their own set in a small TOML file (see docs/boundaries.md).
"""

from boundaries.load import BoundarySet, bundled_boundaries, list_boundaries, load_boundaries

__all__ = ["BoundarySet", "bundled_boundaries", "list_boundaries", "load_boundaries"]
