"""Running a real Envoy for a virtual node or gateway: its bootstrap, its process, the CLI commands."""
