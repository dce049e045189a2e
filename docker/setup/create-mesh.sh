#!/bin/sh
# Creates the demo mesh on appmesh-local with the AWS CLI (AWS_ENDPOINT_URL points it at us).
set -e
aws appmesh create-mesh --mesh-name demo
for svc in service-a service-b; do
  backends='[]'
  [ "$svc" = service-a ] && backends='[{"virtualService":{"virtualServiceName":"service-b"}}]'
  aws appmesh create-virtual-node --mesh-name demo --virtual-node-name "$svc" --spec "{
    \"listeners\":[{\"portMapping\":{\"port\":9080,\"protocol\":\"http\"}}],
    \"serviceDiscovery\":{\"dns\":{\"hostname\":\"$svc\"}},
    \"backends\":$backends}"
  aws appmesh create-virtual-service --mesh-name demo --virtual-service-name "$svc" \
    --spec "{\"provider\":{\"virtualNode\":{\"virtualNodeName\":\"$svc\"}}}"
done
aws appmesh create-virtual-gateway --mesh-name demo --virtual-gateway-name gateway \
  --spec '{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}]}'
aws appmesh create-gateway-route --mesh-name demo --virtual-gateway-name gateway --gateway-route-name to-a \
  --spec '{"httpRoute":{"match":{"prefix":"/"},"action":{"target":{"virtualService":{"virtualServiceName":"service-a"}}}}}'
echo "mesh demo ready: curl http://127.0.0.1:8080/backend"
