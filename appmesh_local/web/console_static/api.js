// App Mesh REST calls from the browser, built from the server's operation table (derived from the
// botocore model), so the console goes through exactly the API boto3 and the AWS CLI use: a form
// gets the same validation message the CLI gets.
//
// Identity: the server reads the account and region from the SigV4 credential scope and does not
// verify the signature unless started with --require-sigv4; the console sends an unsigned scope.

let operations = null;

export async function loadOperations() {
  if (!operations) {
    const response = await fetch("/_appmesh-local/api/operations");
    operations = await response.json();
  }
  return operations;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authorization(account, region) {
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  return `AWS4-HMAC-SHA256 Credential=${account}/${day}/${region}/appmesh/aws4_request, ` +
    "SignedHeaders=host, Signature=console";
}

export async function callApi(scope, name, params = {}) {
  const table = await loadOperations();
  const operation = table[name];
  if (!operation) throw new Error(`unknown operation ${name}`);
  const rest = { ...params };
  let uri = operation.uri;
  for (const [label, member] of Object.entries(operation.labels)) {
    uri = uri.replace(`{${label}}`, encodeURIComponent(rest[member]));
    delete rest[member];
  }
  const query = new URLSearchParams();
  for (const [wire, member] of Object.entries(operation.query)) {
    if (rest[member] !== undefined && rest[member] !== null && rest[member] !== "") query.set(wire, rest[member]);
    delete rest[member];
  }
  const body = operation.payload ? rest[operation.payload] : rest;
  const hasBody = ["PUT", "POST", "PATCH"].includes(operation.method);
  const response = await fetch(uri + (query.toString() ? `?${query}` : ""), {
    method: operation.method,
    headers: { "Content-Type": "application/json", Authorization: authorization(scope.account, scope.region) },
    body: hasBody ? JSON.stringify(body ?? {}) : undefined,
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const code = response.headers.get("x-amzn-ErrorType")?.split(":")[0] || data.__type || "Error";
    throw new ApiError(response.status, code, data.message || data.Message || text);
  }
  return operation.output ? { [operation.output]: data } : data;
}

export async function getJson(path, options) {
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new ApiError(response.status, "Error", data.message || response.statusText);
  return data;
}

// The kinds the console browses: list/describe/create/update/delete operation names and the
// parameters that name one resource.
export const KINDS = {
  virtualGateway: { title: "Virtual gateways", noun: "VirtualGateway", list: "virtualGateways", name: "virtualGatewayName" },
  gatewayRoute: { title: "Gateway routes", noun: "GatewayRoute", list: "gatewayRoutes", name: "gatewayRouteName", parent: "virtualGateway" },
  virtualService: { title: "Virtual services", noun: "VirtualService", list: "virtualServices", name: "virtualServiceName" },
  virtualRouter: { title: "Virtual routers", noun: "VirtualRouter", list: "virtualRouters", name: "virtualRouterName" },
  route: { title: "Routes", noun: "Route", list: "routes", name: "routeName", parent: "virtualRouter" },
  virtualNode: { title: "Virtual nodes", noun: "VirtualNode", list: "virtualNodes", name: "virtualNodeName" },
};

export async function listAll(scope, kind, mesh, parentName) {
  const info = KINDS[kind];
  const params = { meshName: mesh };
  if (info.parent) params[KINDS[info.parent].name] = parentName;
  const items = [];
  let token;
  for (let page = 0; page < 100; page++) {
    const answer = await callApi(scope, `List${info.noun}s`, { ...params, nextToken: token });
    items.push(...(answer[info.list] || []));
    token = answer.nextToken;
    if (!token) break;
  }
  return items;
}
