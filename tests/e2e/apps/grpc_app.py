"""A gRPC service without generated code: `demo.Greeter/Hello`, bytes in, bytes out.

grpc_app.py server NAME PORT          answers Hello(x) with b"NAME:" + x
grpc_app.py client TARGET COUNT [SERVICE]
                                      calls SERVICE/Hello (default demo.Greeter) COUNT times
                                      on TARGET (host:port), prints JSON {"replies": [...]}
                                      or {"error": <status code name>, "details": ...}
"""

from __future__ import annotations

import json
import sys
from concurrent import futures

import grpc

SERVICE, METHOD = "demo.Greeter", "Hello"


def identity(data: bytes) -> bytes:
    return data


def serve(name: str, port: int) -> None:
    def hello(request: bytes, context: grpc.ServicerContext) -> bytes:
        return name.encode() + b":" + request

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            METHOD: grpc.unary_unary_rpc_method_handler(
                hello, request_deserializer=identity, response_serializer=identity
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    server.wait_for_termination()


def call(target: str, count: int, service: str = SERVICE) -> dict:
    with grpc.insecure_channel(target) as channel:
        hello = channel.unary_unary(f"/{service}/{METHOD}", request_serializer=identity, response_deserializer=identity)
        try:
            return {"replies": [hello(f"req-{i}".encode(), timeout=5).decode() for i in range(count)]}
        except grpc.RpcError as error:
            return {"error": error.code().name, "details": error.details()}


def main(argv: list[str]) -> None:
    if argv[0] == "server":
        serve(argv[1], int(argv[2]))
    elif argv[0] == "client":
        print(json.dumps(call(argv[1], int(argv[2]), *argv[3:4])))
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
