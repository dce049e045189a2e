// A CDK v2 app using the aws-appmesh module the way its README shows: a mesh, a Cloud Map
// namespace, two versions of a service behind a router with weighted routes, and an ingress
// gateway. `node app.js` (with aws-cdk-lib and constructs installed) writes
// cdk.out/ShopMesh.template.json, which tests/apply/material/cdk-shop.template.json is.
const cdk = require('aws-cdk-lib');
const appmesh = require('aws-cdk-lib/aws-appmesh');
const servicediscovery = require('aws-cdk-lib/aws-servicediscovery');

const app = new cdk.App({ outdir: process.env.CDK_OUTDIR || 'cdk.out' });
const stack = new cdk.Stack(app, 'ShopMesh', {
  synthesizer: new cdk.LegacyStackSynthesizer(),  // no bootstrap stack, no asset parameters
});

const mesh = new appmesh.Mesh(stack, 'Mesh', {
  meshName: 'shop',
  egressFilter: appmesh.MeshFilterType.DROP_ALL,
});
const namespace = new servicediscovery.HttpNamespace(stack, 'Namespace', { name: 'shop.local' });
const catalogService = namespace.createService('Catalog', { name: 'catalog' });

const port = 8080;
const nodes = ['v1', 'v2'].map((version) => mesh.addVirtualNode(`Catalog${version.toUpperCase()}`, {
  virtualNodeName: `catalog-${version}`,
  serviceDiscovery: appmesh.ServiceDiscovery.cloudMap(catalogService, { version }),
  listeners: [appmesh.VirtualNodeListener.http({
    port,
    healthCheck: appmesh.HealthCheck.http({ path: '/health', interval: cdk.Duration.seconds(5) }),
    timeout: { perRequest: cdk.Duration.seconds(10) },
  })],
}));

const router = mesh.addVirtualRouter('CatalogRouter', {
  virtualRouterName: 'catalog',
  listeners: [appmesh.VirtualRouterListener.http(port)],
});
router.addRoute('Weighted', {
  routeName: 'weighted',
  routeSpec: appmesh.RouteSpec.http({
    weightedTargets: [
      { virtualNode: nodes[0], weight: 80 },
      { virtualNode: nodes[1], weight: 20 },
    ],
    match: { path: appmesh.HttpRoutePathMatch.startsWith('/') },
    retryPolicy: {
      retryAttempts: 2,
      retryTimeout: cdk.Duration.seconds(2),
      httpRetryEvents: [appmesh.HttpRetryEvent.SERVER_ERROR],
    },
  }),
});
router.addRoute('Canary', {
  routeName: 'canary',
  routeSpec: appmesh.RouteSpec.http({
    weightedTargets: [{ virtualNode: nodes[1] }],
    match: {
      path: appmesh.HttpRoutePathMatch.startsWith('/'),
      headers: [appmesh.HeaderMatch.valueIs('x-canary', 'yes')],
    },
    priority: 1,
  }),
});

const catalog = new appmesh.VirtualService(stack, 'CatalogService', {
  virtualServiceName: 'catalog.shop.local',
  virtualServiceProvider: appmesh.VirtualServiceProvider.virtualRouter(router),
});

const gateway = mesh.addVirtualGateway('Gateway', {
  virtualGatewayName: 'edge',
  listeners: [appmesh.VirtualGatewayListener.http({ port: 8088 })],
});
gateway.addGatewayRoute('CatalogRoute', {
  gatewayRouteName: 'catalog',
  routeSpec: appmesh.GatewayRouteSpec.http({
    routeTarget: catalog,
    match: { path: appmesh.HttpGatewayRoutePathMatch.startsWith('/catalog/') },
  }),
});

new cdk.CfnOutput(stack, 'GatewayArn', { value: gateway.virtualGatewayArn, exportName: 'ShopGatewayArn' });
app.synth();
