"""The AWS APIs App Mesh leaned on (Cloud Map, ACM, ACM PCA), served by moto in-process.

`NeighbourApis` answers them on the App Mesh endpoint; `discover`, `certificate` and
`ca_bundle` are what the xDS bridge reads from them.
"""

from .acm import ca_bundle, certificate
from .cloudmap import Instance, discover
from .middleware import NeighbourApis

__all__ = ["Instance", "NeighbourApis", "ca_bundle", "certificate", "discover"]
