# The init container of each task: applies App Mesh's NAT rules (needs NET_ADMIN), then exits.
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/bin/sh"]
