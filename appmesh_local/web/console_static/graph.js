// The topology as an SVG, laid out in layers along the request flow: gateways first, then every
// resource one step right of whatever sends it traffic (longest path from a source), so
// gateway → service → router → node → backend service → router → node reads left to right.
// Within a layer, resources sit near the average height of what points at them (fewer
// crossings). Each proxy carries its live xDS state; edges carry route weights and, where the
// proxies' Envoy admin is reachable, request and 5xx rates.
import { html } from "./vendor/htm-preact-3.1.1.mjs";

const KIND_ORDER = ["virtualGateway", "virtualService", "virtualRouter", "virtualNode"];
const KIND_TITLES = {
  virtualGateway: "virtual gateway",
  virtualService: "virtual service",
  virtualRouter: "virtual router",
  virtualNode: "virtual node",
};
const BOX_W = 180, BOX_H = 58, COL_GAP = 110, ROW_GAP = 24, TOP = 36, LEFT = 20;

function layers(topology) {
  const layer = {};
  for (const node of topology.nodes) layer[node.id] = 0;
  const edges = topology.edges.filter((edge) => edge.source in layer && edge.target in layer);
  // Longest path by relaxation; a cycle (a node that is its own backend) stops at the bound.
  for (let round = 0; round < topology.nodes.length; round++) {
    let changed = false;
    for (const edge of edges) {
      if (layer[edge.target] < layer[edge.source] + 1 && layer[edge.source] + 1 < topology.nodes.length) {
        layer[edge.target] = layer[edge.source] + 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return { layer, edges };
}

export function layout(topology) {
  const { layer, edges } = layers(topology);
  const columns = [];
  for (const node of topology.nodes) (columns[layer[node.id]] ||= []).push(node);
  const positions = {};
  let height = 0;
  columns.forEach((members, column) => {
    const centre = (node) => {
      const from = edges.filter((edge) => edge.target === node.id && positions[edge.source]).map((edge) => positions[edge.source]);
      return from.length ? from.reduce((sum, box) => sum + box.y, 0) / from.length : Infinity;
    };
    const ordered = [...(members || [])].sort((a, b) =>
      centre(a) - centre(b) || KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.name.localeCompare(b.name));
    let y = TOP;
    for (const node of ordered) {
      const extra = node.kind === "virtualRouter" ? Math.max(0, node.routes.length - 1) * 12 : 0;
      positions[node.id] = { x: LEFT + column * (BOX_W + COL_GAP), y, w: BOX_W, h: BOX_H + extra };
      y += BOX_H + extra + ROW_GAP;
    }
    height = Math.max(height, y);
  });
  const width = LEFT * 2 + columns.length * BOX_W + Math.max(0, columns.length - 1) * COL_GAP;
  return { positions, width, height: height + 30 };
}

function proxyBadge(node) {
  const proxy = node.proxy;
  if (!proxy) return null;
  if (!proxy.connected) return { cls: "off", text: "no proxy connected" };
  if (proxy.nack) {
    const [type, nack] = Object.entries(proxy.nack)[0];
    return { cls: "nack", text: `NACK ${type}: ${nack.message}` };
  }
  const acked = Object.entries(proxy.acked || {}).filter(([, version]) => version).map(([type]) => type);
  return { cls: "ack", text: `ACK ${acked.join(" ")}` };
}

// Several routes of one router to one node are drawn as one edge with all their labels.
function parallelEdges(edges) {
  const groups = new Map();
  for (const edge of edges) {
    const key = `${edge.source}>${edge.target}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(edge);
  }
  return [...groups.values()];
}

function rateLabel(edge, rates) {
  const rate = rates[`${edge.source}>${edge.target}>${edge.label}`];
  if (!rate) return "";
  return ` · ${rate.requests.toFixed(1)} rq/s` + (rate.errors > 0 ? `, ${rate.errors.toFixed(1)} 5xx/s` : "");
}

function edgePath(from, to) {
  if (to.x > from.x) {
    const x1 = from.x + from.w, y1 = from.y + from.h / 2, x2 = to.x, y2 = to.y + to.h / 2;
    const mid = (x1 + x2) / 2;
    // the label sits on the last stretch, where edges fanning out of one box have separated
    return { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, lx: x2 - 8, ly: y2 - 5, anchor: "end" };
  }
  // backwards (a node's backend service): leave below, come back above
  const x1 = from.x + from.w / 2, y1 = from.y + from.h, x2 = to.x + to.w / 2, y2 = to.y + to.h;
  const dip = Math.max(y1, y2) + 30;
  return { d: `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`, lx: (x1 + x2) / 2, ly: dip - 6, anchor: "middle" };
}

export function Topology({ topology, rates, onSelect, selected }) {
  const { positions, width, height } = layout(topology);
  return html`
    <svg class="topology" width=${width} height=${height} viewBox="0 0 ${width} ${height}" data-testid="topology">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
        </marker>
      </defs>
      ${KIND_ORDER.map((kind, index) => html`<g class="legend node ${kind}">
        <rect x=${LEFT + index * 150} y="8" width="14" height="14" rx="3" />
        <text x=${LEFT + index * 150 + 20} y="20" class="node-detail">${KIND_TITLES[kind]}</text></g>`)}
      ${parallelEdges(topology.edges).map((group) => {
        const edge = group[0];
        const from = positions[edge.source], to = positions[edge.target];
        if (!from || !to) return null;
        const path = edgePath(from, to);
        return html`<g class="edge ${edge.dangling ? "dangling" : ""}" data-edge=${`${edge.source}>${edge.target}`}>
          <path d=${path.d} marker-end="url(#arrow)" />
          ${group.map((item, index) => html`<text x=${path.lx} y=${path.ly - 12 * (group.length - 1 - index)}
              class="edge-label ${path.anchor}">${item.label}${rateLabel(item, rates)}</text>`)}
        </g>`;
      })}
      ${topology.nodes.map((node) => {
        const box = positions[node.id];
        const badge = proxyBadge(node);
        return html`<g class="node ${node.kind} ${selected === node.id ? "selected" : ""}" data-node=${node.id}
                       onClick=${() => onSelect(node.id)}>
          <rect x=${box.x} y=${box.y} width=${box.w} height=${box.h} rx="6" />
          <text x=${box.x + 10} y=${box.y + 20} class="node-name">${node.name}</text>
          <text x=${box.x + 10} y=${box.y + 36} class="node-detail">${(node.ports || []).join(" ")}</text>
          ${node.kind === "virtualRouter" && node.routes.map((route, index) => html`
            <text x=${box.x + 10} y=${box.y + 52 + index * 12} class="node-detail">route ${route}</text>`)}
          ${badge && html`<g class="badge ${badge.cls}" data-proxy-state=${badge.cls}>
            <circle cx=${box.x + box.w - 14} cy=${box.y + 14} r="6" />
            <title>${badge.text}</title>
            <text x=${box.x + 10} y=${box.y + box.h - 8} class="badge-text">${badge.text.length > 30 ? `${badge.text.slice(0, 29)}…` : badge.text}</text>
          </g>`}
        </g>`;
      })}
    </svg>`;
}

// Rates between two polls of cumulative counters, per edge.
export function computeRates(previous, current, seconds) {
  const rates = {};
  if (!previous || seconds <= 0) return rates;
  const before = {};
  for (const edge of previous.edges) before[`${edge.source}>${edge.target}>${edge.label}`] = edge.counters;
  for (const edge of current.edges) {
    const key = `${edge.source}>${edge.target}>${edge.label}`;
    if (!edge.counters || !before[key]) continue;
    rates[key] = {
      requests: Math.max(0, edge.counters.requests - before[key].requests) / seconds,
      errors: Math.max(0, edge.counters.errors - before[key].errors) / seconds,
    };
  }
  return rates;
}
