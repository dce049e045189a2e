"""Envoy's SecretDiscoveryService on a unix socket (grpc.aio), serving secrets from PEM files.

The stand-in for the SPIRE agent (or any SDS sidecar) App Mesh users pointed
APPMESH_SDS_SOCKET_PATH at: Envoy reaches it through the bootstrap's
`static_cluster_sds_unix_socket` and asks for the secret names the mesh's `sds`
certificates and trust name. State of the world, one stream per subscription:
a response whenever the requested names or their files' content change (checked
every `poll_s` while a stream is open), nothing more after an ACK or a NACK of it.

    server = SdsServer("/tmp/sds.sock", {"svc": ("svc.pem", "svc.key"), "ca": "ca.pem"}).start()
    ...
    server.stop()

`serve_sds(path, secrets)` does the same in the foreground until Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from pathlib import Path
from typing import AsyncIterator

import grpc
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc

from appmesh_local import unix_socket
from appmesh_local.grpc_thread import GrpcThread
from appmesh_local.sds.secrets import SecretFiles, SecretStore

log = logging.getLogger(__name__)
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
_END = object()


class SdsServicer(sds_pb2_grpc.SecretDiscoveryServiceServicer):
    def __init__(self, store: SecretStore, poll_s: float = 1.0) -> None:
        self.store = store
        self.poll_s = poll_s

    def _response(self, names: frozenset[str], nonce: int) -> tuple[discovery_pb2.DiscoveryResponse, str]:
        secrets, version = self.store.snapshot(names)
        missing = sorted(names - {s.name for s in secrets})
        if missing:
            log.warning("SDS: no such secret (or unreadable files): %s", ", ".join(missing))
        response = discovery_pb2.DiscoveryResponse(version_info=version, type_url=SECRET_TYPE, nonce=str(nonce))
        for secret in secrets:
            response.resources.add().Pack(secret)
        return response, version

    async def StreamSecrets(
        self, request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        requests: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await requests.put(request)
            finally:
                await requests.put(_END)

        reader = asyncio.ensure_future(read())
        names: frozenset[str] | None = None
        sent: tuple[frozenset[str], str] | None = None
        nonce = 0
        try:
            while True:
                try:
                    request = await asyncio.wait_for(requests.get(), timeout=self.poll_s)
                except TimeoutError:
                    request = None  # a tick: look for rotated files
                if request is _END:
                    return
                if request is not None:
                    if request.error_detail.code:
                        log.warning(
                            "SDS: Envoy %s rejected version %s: %s",
                            request.node.id or context.peer(),
                            request.version_info,
                            request.error_detail.message,
                        )
                    names = frozenset(request.resource_names)
                if names is None:
                    continue
                _, version = self.store.snapshot(names)
                if sent == (names, version):
                    continue  # Envoy holds (or rejected) exactly this: never resend it
                nonce += 1
                response, version = self._response(names, nonce)
                sent = (names, version)
                yield response
        finally:
            reader.cancel()

    async def FetchSecrets(
        self, request: discovery_pb2.DiscoveryRequest, context: grpc.aio.ServicerContext
    ) -> discovery_pb2.DiscoveryResponse:
        response, _ = self._response(frozenset(request.resource_names), 1)
        return response


class SdsServer:
    """The SDS server in a thread of its own (its own event loop), for tests and embedding."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        secrets: SecretFiles,
        *,
        poll_s: float = 1.0,
        group: int | None = None,
    ) -> None:
        """`group`: the socket is 0660 for this gid (1337: the Envoy `task` runs), else 0600. It hands
        out private keys, so never to every local user (`appmesh_local.unix_socket`)."""
        self.socket_path = Path(socket_path).absolute()
        self.store = SecretStore(secrets)
        self.poll_s = poll_s
        self.group = group
        self._grpc = GrpcThread("appmesh-sds", self._start)

    async def _start(self) -> grpc.aio.Server:
        unix_socket.prepare(self.socket_path)
        server = grpc.aio.server()
        sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(SdsServicer(self.store, self.poll_s), server)
        if not server.add_insecure_port(f"unix:{self.socket_path}"):
            raise OSError(f"cannot listen on {self.socket_path}")
        await server.start()
        unix_socket.restrict(self.socket_path, self.group)
        return server

    def start(self, timeout: float = 10.0) -> SdsServer:
        try:
            self._grpc.start(timeout)
        except TimeoutError:
            raise TimeoutError("the SDS server did not start") from None
        except BaseException as error:
            raise RuntimeError(f"SDS server failed on {self.socket_path}: {error}") from error
        log.info("SDS on unix:%s serving %s", self.socket_path, ", ".join(self.store.names))
        return self

    def stop(self, grace: float = 0.5) -> None:
        self._grpc.stop(grace)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> SdsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_sds(
    socket_path: str | os.PathLike[str], secrets: SecretFiles, *, poll_s: float = 1.0, group: int | None = None
) -> None:
    """Serve `secrets` over SDS on the unix socket `socket_path` until SIGINT/SIGTERM.

    `secrets`: name → (certificate chain path, private key path) or CA bundle path.
    """
    server = SdsServer(socket_path, secrets, poll_s=poll_s, group=group).start()
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
