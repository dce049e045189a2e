"""Durable state: one SQLite database (WAL) holding every resource, tag and client token."""

from .frozen import FrozenDict, freeze
from .protocols import AppliedSetStore, MeshSource, ResourceReader, ResourceStore, StateStore, WriteTransaction
from .records import ChangeEvent, MeshSnapshot, ResourceKey, ResourceRecord
from .schema import SCHEMA_VERSION, StateVersionError
from .sqlite import ArnTaken, Store

__all__ = [
    "SCHEMA_VERSION",
    "AppliedSetStore",
    "ArnTaken",
    "ChangeEvent",
    "FrozenDict",
    "MeshSnapshot",
    "MeshSource",
    "ResourceKey",
    "ResourceReader",
    "ResourceRecord",
    "ResourceStore",
    "StateStore",
    "StateVersionError",
    "Store",
    "WriteTransaction",
    "freeze",
]
