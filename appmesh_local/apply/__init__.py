"""`appmesh-local apply` / `delete`: CloudFormation templates and App Mesh controller manifests.

Reading (`documents`, `cfn.template`, `kubernetes.objects`), evaluating (`cfn.intrinsics`),
converting to API calls along botocore's shapes (`shapes`, `kubernetes.convert`), and
applying them through the server's own API (`meshops`, `cfn.drivers`, `cfn.neighbours`,
`cfn.stack`, `kubernetes.engine`), with the stack records kept by the server (`registry`).
"""

from .errors import ApplyError

__all__ = ["ApplyError"]
