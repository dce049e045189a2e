"""A gRPC service without generated code (`demo.Policy/Call`, bytes in and out), for the policy tests.

The request says what to do: b"ok", b"sleep:<ms>", or b"flaky" (calls 2, 4, 6, ... of the
process answer UNAVAILABLE). Every call is counted.

    grpc_app.py server PORT CONTROL_PORT   serve; `demo.Policy/Count` on CONTROL_PORT (not an app
                                            port, so not intercepted) answers the count
    grpc_app.py client TARGET AUTHORITY REQUEST COUNT CONCURRENCY
                                            prints a JSON list of status code names, in call order
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "demo.Policy"


def identity(data: bytes) -> bytes:
    return data


class Policy:
    """The service's behaviour and its call counter."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def call(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            self.calls += 1
            number = self.calls
        if request.startswith(b"sleep:"):
            time.sleep(int(request[6:]) / 1000)
        elif request == b"flaky" and number % 2 == 0:
            context.abort(grpc.StatusCode.UNAVAILABLE, "flaky")
        return b"done:%d" % number

    def count(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return str(self.calls).encode()


def make_server(addresses: list[str], policy: Policy) -> grpc.Server:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            name: grpc.unary_unary_rpc_method_handler(
                method, request_deserializer=identity, response_serializer=identity
            )
            for name, method in (("Call", policy.call), ("Count", policy.count))
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    for address in addresses:
        server.add_insecure_port(address)
    server.start()
    return server


def calls(
    target: str, authority: str, request: bytes, count: int, concurrency: int, method: str = "Call", timeout: float = 10
) -> list[str]:
    """`count` calls, `concurrency` at a time; the status code name of each, in call order."""
    options = [("grpc.default_authority", authority)] if authority else []
    with grpc.insecure_channel(target, options=options) as channel:
        stub = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=identity, response_deserializer=identity)
        codes: list[str] = []
        for start in range(0, count, concurrency):
            pending = [stub.future(request, timeout=timeout) for _ in range(start, min(count, start + concurrency))]
            for future in pending:
                try:
                    future.result()
                    codes.append("OK")
                except grpc.RpcError as error:
                    codes.append(error.code().name)
        return codes


def main(argv: list[str]) -> None:
    if argv[0] == "server":
        make_server([f"0.0.0.0:{argv[1]}", f"0.0.0.0:{argv[2]}"], Policy()).wait_for_termination()
    elif argv[0] == "client":
        target, authority, request, count, concurrency = argv[1:6]
        print(json.dumps(calls(target, authority, request.encode(), int(count), int(concurrency))))
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
