"""The xDS bridge: mesh snapshots → Envoy resources → ADS streams to real Envoy."""
