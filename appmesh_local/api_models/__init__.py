"""Everything derived from the botocore service model `appmesh` 2019-01-25."""
