"""Tasks as network namespaces with App Mesh's transparent interception (iptables → Envoy as uid 1337)."""
