"""Durable state: one SQLite database (WAL) holding every resource, tag and client token."""

from .frozen import FrozenDict, freeze
from .protocols import MeshSource, ResourceReader, ResourceStore, WriteTransaction
from .records import ChangeEvent, MeshSnapshot, ResourceKey, ResourceRecord
from .schema import SCHEMA_VERSION, StateVersionError
from .sqlite import ArnTaken, Store

__all__ = [
    "SCHEMA_VERSION",
    "ArnTaken",
    "ChangeEvent",
    "FrozenDict",
    "MeshSnapshot",
    "MeshSource",
    "ResourceKey",
    "ResourceReader",
    "ResourceRecord",
    "ResourceStore",
    "StateVersionError",
    "Store",
    "WriteTransaction",
    "freeze",
]
