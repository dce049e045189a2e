"""Tiny apps run inside e2e tasks by the system Python as the app uid (stdlib only, gRPC app: grpcio)."""
