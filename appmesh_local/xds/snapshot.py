"""Immutable per-proxy snapshots: every resource serialized once, hashed, packed once.

A `Resource` keeps the deterministic bytes, their digest and (made on the first push,
then kept) the packed `Any`, so a push to any number of streams never re-encodes a
message, and comparing two snapshots is comparing digests. Versions are per type, `<boot-id>-<n>`: the
boot prefix means a restarted server never reuses a version an Envoy ACKed.
"""

from __future__ import annotations

import hashlib
from dataclasses import field
from typing import Any, Iterator, Mapping, Sequence

from google.protobuf import any_pb2
from google.protobuf.message import Message

from appmesh_local.records import record
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    TYPE_URLS,
)
from appmesh_local.xds.references import REFERRING_TYPES, Awaited, awaited, awaited_of

# The order Envoy expects updates in (xDS protocol, "eventual consistency considerations"):
# clusters before their endpoints, listeners before their routes; secrets last.
PUSH_ORDER = (CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET)
# Types Envoy subscribes to as a whole (wildcard); the others by resource name.
WILDCARD_TYPES = frozenset({LISTENER, CLUSTER})
SHORT_TYPE_NAMES = {
    LISTENER: "lds",
    ROUTE_CONFIGURATION: "rds",
    CLUSTER: "cds",
    CLUSTER_LOAD_ASSIGNMENT: "eds",
    SECRET: "sds",
}


@record(eq=False, slots=True)  # one per changed resource per proxy: no __dict__ to make and free
class Resource:
    """One named resource: the message, its bytes (packed on first push) and their digest.

    Most proxies of a big mesh have no Envoy connected: packing their resources when they change
    would copy every changed route configuration (~20 KB each, 10,000 of them for a change every node
    sees) into an `Any` that no stream ever sends, so the `Any` is made on first use. A message many
    proxies hold under one name (a cluster) is one Resource for all of them (`make_resource`'s memo),
    so its `Any` is made once. Two threads making it at once make two equal ones; either is fine."""

    name: str
    type_url: str
    source: Message | EncodedMessage  # what the builder handed over; its identity marks it unchanged
    body: bytes | EncodedMessage  # the bytes, or the EncodedMessage that joins them when first read
    digest: str
    _any: any_pb2.Any | None = field(default=None, init=False, repr=False)  # see `packed`
    _awaited: Awaited | None = field(default=None, init=False, repr=False)  # see `awaited`

    @property
    def packed(self) -> any_pb2.Any:
        """The resource as a discovery response carries it."""
        made = self._any
        if made is None:
            made = any_pb2.Any(type_url=self.type_url, value=self.data)
            object.__setattr__(self, "_any", made)  # a cache of the record's own content
        return made

    @property
    def data(self) -> bytes:
        """The message's deterministic serialization."""
        body = self.body
        return body if isinstance(body, bytes) else body.data

    @property
    def message(self) -> Message:
        source = self.source
        return source.message if isinstance(source, EncodedMessage) else source

    @property
    def awaited(self) -> Awaited:
        """What Envoy waits for after taking this resource (xds.references.awaited): computed on
        first use and kept on the resource, which never changes and is reused while its content is
        unchanged, so each listener and cluster is parsed once however often it is pushed or checked."""
        found = self._awaited
        if found is None:
            found = awaited(self.type_url, self.message, self.name)
            object.__setattr__(self, "_awaited", found)  # a cache of the record's own content
        return found


# Within one write: id(message) → (message, the Resource made of it), for messages shared by many
# proxies: encoded and hashed once, and one Resource for all that hold it under the same name.
EncodeMemo = dict[int, tuple["Message | EncodedMessage", "Resource"]]
EnvoyMessage = Any  # a generated Envoy protobuf message: xds-protos ships no type information


class EncodedMessage:
    """A message known by its deterministic encoding, parsed only when someone reads it.

    Builders that assemble a message's bytes from parts already encoded (route configurations
    from shared virtual hosts) hand this over instead of a message: the cache packs the bytes
    as they are and nothing parses them unless a reader (a dump, an export) asks for `message`.
    The object's identity stands for its content, like a message object's in the cache.

    Given as `parts`, the bytes are joined only when first read: a change every node sees re-makes
    every proxy's ~20 KB route configuration, and most proxies of a big mesh have no Envoy
    connected to read it (joining 1,000 of them copied 20 MB and faulted in ~3,000 fresh pages per
    change). Two threads reading at once join twice; either result is the same bytes.
    """

    __slots__ = ("message_class", "_data", "_parts", "digest", "_message")

    def __init__(
        self,
        message_class: type[Message],
        data: bytes | None = None,
        digest: str | None = None,
        parts: tuple[bytes, ...] | None = None,
    ) -> None:
        """`data`, or `parts` whose concatenation it is. `digest`: the builder's digest of the bytes
        made from its parts' digests (`parts_digest`), so the cache need not hash the whole message;
        None: the cache hashes the bytes."""
        if (data is None) == (parts is None):
            raise ValueError("an EncodedMessage takes its bytes or their parts")
        self.message_class = message_class
        self._data = data
        self._parts = parts
        self.digest = digest
        self._message: Message | None = None

    @property
    def data(self) -> bytes:
        data = self._data
        if data is None:
            assert self._parts is not None
            data = self._data = b"".join(self._parts)
        return data

    @property
    def message(self) -> Message:
        if self._message is None:
            self._message = self.message_class.FromString(self.data)
        return self._message


class EncodedMessages(Mapping[str, Message]):
    """A name → message mapping over `EncodedMessage`s: each message is parsed on first access."""

    __slots__ = ("encoded",)

    def __init__(self, encoded: Mapping[str, EncodedMessage] | None = None) -> None:
        self.encoded: dict[str, EncodedMessage] = dict(encoded or {})

    @classmethod
    def holding(cls, encoded: dict[str, EncodedMessage]) -> EncodedMessages:
        """Over `encoded` itself, not a copy: the caller hands it over and never changes it again."""
        made = cls.__new__(cls)
        made.encoded = encoded
        return made

    def __getitem__(self, name: str) -> Message:
        return self.encoded[name].message

    def __iter__(self) -> Iterator[str]:
        return iter(self.encoded)

    def __len__(self) -> int:
        return len(self.encoded)

    def __contains__(self, name: object) -> bool:
        return name in self.encoded


def content_digest(data: bytes) -> str:
    """96 bits of SHA-256: hashed at every push of a changed resource (a 1,000-proxy change hashes
    ~15 MB), and SHA-256 runs on the CPU's SHA extensions, 2-3x faster here than BLAKE2b."""
    return hashlib.sha256(data).hexdigest()[:24]


def parts_digest(kind: str, name: str, part_digests: Sequence[str]) -> str:
    """The digest of a message assembled from parts (a route configuration from its virtual hosts),
    made from its name and its parts' `content_digest`s instead of its bytes: equal bytes give equal
    digests (the same parts in the same order), different ones differ (SHA-256 over distinct input),
    and a 15 KB route configuration costs one short hash. It differs from `content_digest` of the
    same bytes, so a resource must always be hashed the same way: the builder does it for every
    route configuration it assembles (a mix could only cost a push, never miss one)."""
    return hashlib.sha256(f"{kind}\0{name}\0{''.join(part_digests)}".encode()).hexdigest()[:24]


def make_resource(
    type_url: str,
    name: str,
    message: Message | EncodedMessage,
    previous: Resource | None = None,
    memo: EncodeMemo | None = None,
) -> Resource:
    """Serialize `message` once; reuse `previous` when the bytes are the same (or it is the same object).

    `memo` (alive for one cache write, while every message in it is referenced) lets a
    message object shared by many proxies, such as one cluster, be encoded only once.
    An `EncodedMessage` brings its bytes: it is neither serialized nor parsed.
    """
    if previous is not None and previous.source is message:
        return previous
    cached = memo.get(id(message)) if memo is not None else None
    if cached is not None and cached[0] is message:
        made = cached[1]
        if previous is not None and previous.digest == made.digest and previous.type_url == type_url:
            return previous
        if made.name == name and made.type_url == type_url:
            return made
        return Resource(name, type_url, message, made.body, made.digest)
    data: bytes | EncodedMessage
    if isinstance(message, EncodedMessage):
        digest = message.digest if message.digest is not None else content_digest(message.data)
        data = message  # its bytes are joined when a push (or a dump) first reads them
    else:
        data = message.SerializeToString(deterministic=True)
        digest = content_digest(data)
    if previous is not None and previous.digest == digest and previous.type_url == type_url:
        resource = previous
    else:
        resource = Resource(name, type_url, message, data, digest)
    if memo is not None:
        memo[id(message)] = (message, resource)
    return resource


@record(eq=False, slots=True)  # one per changed type per proxy: no __dict__ to make and free
class TypeSnapshot:
    """All resources of one type for one proxy, with the type's version."""

    version: str
    resources: Mapping[str, Resource]
    _digest: str | None = field(default=None, init=False, repr=False)  # see `digest`

    @property
    def digest(self) -> str:
        """Over (name, digest) pairs: equal digests mean nothing to push. Made when first compared:
        the cache's incremental path compares resources by identity instead."""
        found = self._digest
        if found is None:
            found = TypeSnapshot.content_digest(self.resources)
            object.__setattr__(self, "_digest", found)  # a cache of the record's own content
        return found

    @classmethod
    def with_digest(cls, version: str, resources: Mapping[str, Resource], digest: str) -> TypeSnapshot:
        """A TypeSnapshot whose `content_digest` the caller has already made."""
        made = cls(version, resources)
        object.__setattr__(made, "_digest", digest)
        return made

    @staticmethod
    def content_digest(resources: Mapping[str, Resource]) -> str:
        h = hashlib.blake2b(digest_size=12)
        for name in sorted(resources):
            h.update(name.encode())
            h.update(b"\0")
            h.update(resources[name].digest.encode())
            h.update(b"\n")
        return h.hexdigest()


@record(slots=True)  # one per proxy per change: no __dict__ to make and free
class Snapshot:
    """Everything one proxy should hold, at one store revision. Never mutated."""

    proxy: ProxyRef
    revision: int
    types: Mapping[str, TypeSnapshot] = field(default_factory=dict)

    def version(self, type_url: str) -> str | None:
        ts = self.types.get(type_url)
        return ts.version if ts else None

    def versions(self) -> dict[str, str]:
        return {SHORT_TYPE_NAMES[t]: ts.version for t, ts in self.types.items()}


def check_consistency(resources: Mapping[str, Mapping[str, Resource]]) -> list[str]:
    """What Envoy would wait for forever: resources a listener or cluster awaits over ADS
    (route configurations, ClusterLoadAssignments, secrets) that the snapshot does not hold."""
    problems: list[str] = []
    for type_url in REFERRING_TYPES:
        for res in resources.get(type_url, {}).values():
            for wanted_type, wanted in awaited_of(res):
                if wanted not in resources.get(wanted_type, {}):
                    problems.append(_missing(res, wanted_type, wanted))
    return problems


def _missing(res: Resource, wanted_type: str, wanted: str) -> str:
    if wanted_type == ROUTE_CONFIGURATION:
        return f"listener {res.name} references route config {wanted} that does not exist"
    if wanted_type == CLUSTER_LOAD_ASSIGNMENT:
        return f"EDS cluster {res.name} has no ClusterLoadAssignment {wanted}"
    kind = "listener" if res.type_url == LISTENER else "cluster"
    return f"{kind} {res.name} awaits secret {wanted} that the server does not have"


def empty_types(version: str) -> dict[str, TypeSnapshot]:
    """A snapshot body with every type present and empty (a proxy with nothing configured yet)."""
    return {t: TypeSnapshot(version, {}) for t in TYPE_URLS}
