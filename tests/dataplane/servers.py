"""Receivers in the test process (root namespace, on bridge addresses): what Envoy sends arrives here.

Each records what it got, so a test asserts on what really crossed the wire: HTTP requests with
their Host, TCP connections, TLS handshakes, StatsD datagrams, Zipkin spans (protobuf or JSON)
and X-Ray segments (the daemon's UDP protocol).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

Answer = Callable[[str], int]  # request path → status


class HttpRecorder:
    """An HTTP server that answers JSON {name, host, path} and records every request."""

    def __init__(self, name: str, address: str, port: int, answer: Answer = lambda path: 200) -> None:
        self.name = name
        self.requests: list[dict[str, Any]] = []
        self.answer = answer
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with recorder._lock:
                    recorder.requests.append(
                        {"path": self.path, "host": self.headers.get("host"), "at": time.monotonic()}
                    )
                status = recorder.answer(self.path)
                body = json.dumps({"name": recorder.name, "host": self.headers.get("host")}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer((address, port), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def count(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"].startswith(path_prefix))

    def hosts(self, path: str) -> list[str]:
        with self._lock:
            return [r["host"] for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class NamedTcp:
    """A TCP server that answers each connection's first bytes with its name, counting connections."""

    def __init__(self, name: str, address: str, port: int) -> None:
        self.connections = 0
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.connections += 1
                if self.request.recv(1024):
                    self.request.sendall(name.encode())

        self.tcp = socketserver.ThreadingTCPServer((address, port), Handler, bind_and_activate=False)
        self.tcp.allow_reuse_address = True
        self.tcp.daemon_threads = True
        self.tcp.server_bind()
        self.tcp.server_activate()
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()


def make_ca_and_leaf(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """(CA certificate, leaf certificate, leaf key) files for `hostname`, valid for a day."""
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: x509.Name | None, key, signer, ca: bool) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("dataplane-test-ca", None, ca_key, ca_key, True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(hostname, ca_cert.subject, leaf_key, ca_key, False)
    paths = (directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key")
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for path in paths:
        path.chmod(0o644)
    return paths


class TlsServer(HttpRecorder):
    """HttpRecorder behind TLS with a leaf certificate for `hostname` (the caller holds the CA)."""

    def __init__(self, name: str, address: str, port: int, certificate: Path, key: Path) -> None:
        super().__init__(name, address, port)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.http.socket = context.wrap_socket(self.http.socket, server_side=True)


class UdpReceiver:
    """Collects datagrams (DogStatsD metrics, X-Ray segments) sent to address:port."""

    def __init__(self, address: str, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.sock.recv(65535))
            except TimeoutError:
                continue
            except OSError:
                return

    def lines(self) -> list[str]:
        return [line for datagram in list(self.datagrams) for line in datagram.decode(errors="replace").splitlines()]

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """A request body sent with Content-Length or chunked (Envoy's async client streams its posts)."""
    if "chunked" not in handler.headers.get("transfer-encoding", "").lower():
        return handler.rfile.read(int(handler.headers.get("content-length", 0)))
    body = b""
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            handler.rfile.readline()  # the empty line after the last chunk (no trailers)
            return body
        body += handler.rfile.read(size)
        handler.rfile.readline()  # CRLF after each chunk


# ---- Zipkin v2 spans (what Envoy's zipkin tracer posts for ENABLE_ENVOY_JAEGER_TRACING) -------------
def _zipkin_list_of_spans() -> type:
    """`zipkin.proto3.ListOfSpans`, the fields the tests read (Envoy posts it as application/x-protobuf).

    Built from a descriptor so the collector needs no generated code; fields it does not name are kept
    as unknown fields. Numbers from zipkin's proto3 definition (zipkin-api, zipkin.proto).
    """
    file = descriptor_pb2.FileDescriptorProto(name="dataplane_zipkin.proto", package="zipkin.proto3", syntax="proto3")
    endpoint = file.message_type.add(name="Endpoint")
    endpoint.field.add(name="service_name", number=1, type=9, label=1)
    span = file.message_type.add(name="Span")
    for name, number, kind in (("trace_id", 1, 12), ("parent_id", 2, 12), ("id", 3, 12), ("name", 5, 9)):
        span.field.add(name=name, number=number, type=kind, label=1)
    span.field.add(name="local_endpoint", number=8, type=11, label=1, type_name=".zipkin.proto3.Endpoint")
    spans = file.message_type.add(name="ListOfSpans")
    spans.field.add(name="spans", number=1, type=11, label=3, type_name=".zipkin.proto3.Span")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("zipkin.proto3.ListOfSpans"))


@dataclass
class Span:
    service: str
    trace_id: str
    name: str


@dataclass
class ZipkinCollector:
    """POST /api/v2/spans in Zipkin's v2 protobuf or JSON encoding (what Jaeger's collector takes)."""

    address: str
    port: int
    spans: list[Span] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        message_class = _zipkin_list_of_spans()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = read_body(self)
                kind = self.headers.get("content-type", "")
                collector.content_types.add(kind)
                if self.path == "/api/v2/spans":
                    if "json" in kind:
                        for item in json.loads(body):
                            collector.spans.append(
                                Span(
                                    item.get("localEndpoint", {}).get("serviceName", ""),
                                    item["traceId"],
                                    item.get("name", ""),
                                )
                            )
                    else:
                        decoded = message_class.FromString(body)
                        for item in decoded.spans:
                            collector.spans.append(
                                Span(item.local_endpoint.service_name, item.trace_id.hex(), item.name)
                            )
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer((self.address, self.port), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def xray_segments(receiver: UdpReceiver) -> list[dict[str, Any]]:
    """The segments an X-Ray daemon would get: each datagram is a JSON header line, then the segment."""
    segments = []
    for datagram in list(receiver.datagrams):
        header, _, segment = datagram.decode(errors="replace").partition("\n")
        if json.loads(header) == {"format": "json", "version": 1} and segment:
            segments.append(json.loads(segment))
    return segments
