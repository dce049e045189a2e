"""A small SDS server on a unix socket, the local stand-in for the SPIRE agent at APPMESH_SDS_SOCKET_PATH."""

from appmesh_local.sds.secrets import SecretFiles, SecretStore
from appmesh_local.sds.server import SdsServer, serve_sds

__all__ = ["SdsServer", "SecretFiles", "SecretStore", "serve_sds"]
