"""The xDS bridge: store changes → debounced translations → Envoy resources in the snapshot cache.

`reconciler` (what to rebuild, when), `build` (IR → Envoy messages, memoised), `secrets`
(ACM material → SDS secrets), `runtime` (the ADS server and the reconciler, run together),
`neighbour_events` (Cloud Map / ACM changes → meshes to rebuild).
"""
