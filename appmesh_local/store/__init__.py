"""Durable state: one SQLite database (WAL) holding every resource, tag and client token."""

from .records import ChangeEvent, MeshSnapshot, ResourceKey, ResourceRecord
from .sqlite import Store

__all__ = ["Store", "ChangeEvent", "MeshSnapshot", "ResourceKey", "ResourceRecord"]
