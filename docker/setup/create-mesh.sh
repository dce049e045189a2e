#!/bin/sh
# Creates the colour-app mesh on appmesh-local with the AWS CLI (AWS_ENDPOINT_URL points it at us):
# gateway (8080) → front → color: blue 80 / red 20. Virtual service names are compose names/aliases.
set -e
listener='"listeners":[{"portMapping":{"port":9080,"protocol":"http"}}]'
aws appmesh create-mesh --mesh-name demo
for node in blue red; do
  aws appmesh create-virtual-node --mesh-name demo --virtual-node-name "$node" \
    --spec "{$listener,\"serviceDiscovery\":{\"dns\":{\"hostname\":\"$node\"}}}"
done
aws appmesh create-virtual-router --mesh-name demo --virtual-router-name color --spec "{$listener}"
aws appmesh create-route --mesh-name demo --virtual-router-name color --route-name split --spec \
  '{"httpRoute":{"match":{"prefix":"/"},"action":{"weightedTargets":[{"virtualNode":"blue","weight":80},{"virtualNode":"red","weight":20}]}}}'
aws appmesh create-virtual-service --mesh-name demo --virtual-service-name color \
  --spec '{"provider":{"virtualRouter":{"virtualRouterName":"color"}}}'
aws appmesh create-virtual-node --mesh-name demo --virtual-node-name front \
  --spec "{$listener,\"serviceDiscovery\":{\"dns\":{\"hostname\":\"front\"}},\"backends\":[{\"virtualService\":{\"virtualServiceName\":\"color\"}}]}"
aws appmesh create-virtual-service --mesh-name demo --virtual-service-name front \
  --spec '{"provider":{"virtualNode":{"virtualNodeName":"front"}}}'
aws appmesh create-virtual-gateway --mesh-name demo --virtual-gateway-name gateway \
  --spec '{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}]}'
aws appmesh create-gateway-route --mesh-name demo --virtual-gateway-name gateway --gateway-route-name to-front \
  --spec '{"httpRoute":{"match":{"prefix":"/"},"action":{"target":{"virtualService":{"virtualServiceName":"front"}}}}}'
echo "mesh demo ready: curl http://127.0.0.1:8080/color"
