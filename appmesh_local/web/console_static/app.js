// The appmesh-local console: browse and edit a mesh through the App Mesh API, watch its live
// topology, explain a request, lint the mesh. Preact + htm, no build step.
import { html, render, useCallback, useEffect, useRef, useState } from "./vendor/htm-preact-3.1.1.mjs";
import { ApiError, KINDS, callApi, getJson, listAll } from "./api.js";
import { Topology, computeRates } from "./graph.js";

const POLL_MS = 400; // how often the page asks whether anything changed (store revision, proxy status)
const STATS_MS = 2000; // how often the topology re-reads Envoy counters for rates

function errorText(error) {
  return error instanceof ApiError ? `${error.code}: ${error.message}` : String(error.message || error);
}

function ErrorLine({ error }) {
  return error ? html`<div class="error" data-testid="api-error">${errorText(error)}</div>` : null;
}

// ---- live changes -------------------------------------------------------------------------------
function useChanges() {
  const [token, setToken] = useState("");
  useEffect(() => {
    let stopped = false, timer;
    const poll = async () => {
      try {
        const changes = await getJson("/_appmesh-local/api/changes");
        if (!stopped) setToken(`${changes.revision}/${changes.status}`);
      } catch (_) { /* server restarting: try again */ }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => { stopped = true; clearTimeout(timer); };
  }, []);
  return token;
}

// ---- meshes ------------------------------------------------------------------------------------
function NewMesh({ scope, onCreated }) {
  const [name, setName] = useState("");
  const [egress, setEgress] = useState("DROP_ALL");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      await callApi(scope, "CreateMesh", { meshName: name, spec: { egressFilter: { type: egress } } });
      onCreated(name);
      setName("");
    } catch (caught) {
      setError(caught);
    }
  };
  return html`<form class="inline" onSubmit=${submit} data-testid="new-mesh">
    <input placeholder="new mesh name" value=${name} onInput=${(e) => setName(e.target.value)} name="meshName" />
    <select value=${egress} onChange=${(e) => setEgress(e.target.value)} name="egressFilter">
      <option value="DROP_ALL">DROP_ALL</option><option value="ALLOW_ALL">ALLOW_ALL</option>
    </select>
    <button type="submit">Create mesh</button>
    <${ErrorLine} error=${error} />
  </form>`;
}

// ---- resources ---------------------------------------------------------------------------------
function ResourceEditor({ scope, mesh, item, onChanged }) {
  const [text, setText] = useState("");
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  useEffect(() => {
    setText(item.data ? JSON.stringify(item.data.spec, null, 2) : "{}");
    setError(null);
    setSaved("");
  }, [item.key]);
  const info = KINDS[item.kind];
  const names = () => {
    const params = { meshName: mesh, [info.name]: item.name };
    if (info.parent) params[KINDS[info.parent].name] = item.parent;
    return params;
  };
  const run = async (operation, extra) => {
    setError(null);
    setSaved("");
    try {
      await callApi(scope, `${operation}${info.noun}`, { ...names(), ...extra });
      setSaved(`${operation} ${info.noun} ${item.name}: done`);
      onChanged();
    } catch (caught) {
      setError(caught);
    }
  };
  const save = () => {
    let spec;
    try {
      spec = JSON.parse(text);
    } catch (caught) {
      setError(new Error(`spec is not valid JSON: ${caught.message}`));
      return;
    }
    run(item.data ? "Update" : "Create", { spec });
  };
  return html`<div class="editor" data-testid="editor">
    <h3>${info.noun} ${item.parent ? `${item.parent}/` : ""}${item.name}</h3>
    ${item.data && html`<pre class="meta">${JSON.stringify(item.data.metadata, null, 2)}</pre>`}
    <textarea rows="18" value=${text} onInput=${(e) => setText(e.target.value)} name="spec"></textarea>
    <div class="buttons">
      <button onClick=${save} data-testid="save">${item.data ? "Update" : "Create"}</button>
      ${item.data && html`<button class="danger" onClick=${() => run("Delete", {})}>Delete</button>`}
    </div>
    <${ErrorLine} error=${error} />
    ${saved && html`<div class="ok">${saved}</div>`}
  </div>`;
}

function Resources({ scope, mesh, changes }) {
  const [items, setItems] = useState({});
  const [selected, setSelected] = useState(null);
  const [creating, setCreating] = useState({ kind: "virtualNode", name: "", parent: "" });
  const [error, setError] = useState(null);
  const load = useCallback(async () => {
    try {
      const found = {};
      for (const kind of Object.keys(KINDS)) {
        const info = KINDS[kind];
        if (info.parent) {
          found[kind] = [];
          for (const parent of found[info.parent] || []) {
            const children = await listAll(scope, kind, mesh, parent.name);
            found[kind].push(...children.map((child) => ({ name: child[info.name], parent: parent.name })));
          }
        } else {
          found[kind] = (await listAll(scope, kind, mesh)).map((entry) => ({ name: entry[info.name] }));
        }
      }
      setItems(found);
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  }, [scope.account, scope.region, mesh]);
  useEffect(() => { load(); }, [load, changes]);
  const open = async (kind, entry) => {
    const info = KINDS[kind];
    const params = { meshName: mesh, [info.name]: entry.name };
    if (info.parent) params[KINDS[info.parent].name] = entry.parent;
    try {
      const answer = await callApi(scope, `Describe${info.noun}`, params);
      const data = Object.values(answer)[0];
      setSelected({ key: `${kind}/${entry.parent || ""}/${entry.name}/${data.metadata.version}`, kind, ...entry, data });
    } catch (caught) {
      setError(caught);
    }
  };
  const startCreate = (event) => {
    event.preventDefault();
    setSelected({ key: `new/${creating.kind}/${creating.name}/${Date.now()}`, kind: creating.kind,
                  name: creating.name, parent: creating.parent, data: null });
  };
  const needsParent = KINDS[creating.kind].parent;
  return html`<div class="resources">
    <div class="list">
      <form class="create" onSubmit=${startCreate} data-testid="new-resource">
        <select value=${creating.kind} onChange=${(e) => setCreating({ ...creating, kind: e.target.value })} name="kind">
          ${Object.entries(KINDS).map(([kind, info]) => html`<option value=${kind}>${info.noun}</option>`)}
        </select>
        ${needsParent && html`<input placeholder=${KINDS[needsParent].noun} value=${creating.parent} name="parent"
                                     onInput=${(e) => setCreating({ ...creating, parent: e.target.value })} />`}
        <input placeholder="name" value=${creating.name} name="name"
               onInput=${(e) => setCreating({ ...creating, name: e.target.value })} />
        <button type="submit">New…</button>
      </form>
      <${ErrorLine} error=${error} />
      ${Object.entries(KINDS).map(([kind, info]) => html`<div class="group">
        <h4>${info.title}</h4>
        <ul>${(items[kind] || []).map((entry) => html`<li>
          <a href="#" data-resource=${`${kind}/${entry.parent ? `${entry.parent}/` : ""}${entry.name}`}
             onClick=${(e) => { e.preventDefault(); open(kind, entry); }}>
            ${entry.parent ? `${entry.parent}/` : ""}${entry.name}</a></li>`)}</ul>
      </div>`)}
    </div>
    ${selected && html`<${ResourceEditor} scope=${scope} mesh=${mesh} item=${selected} onChanged=${load} />`}
  </div>`;
}

// ---- topology ----------------------------------------------------------------------------------
function TopologyView({ scope, mesh, changes }) {
  const [topology, setTopology] = useState(null);
  const [rates, setRates] = useState({});
  const [selected, setSelected] = useState(null);
  const [error, setError] = useState(null);
  const previous = useRef(null);
  const path = `/_appmesh-local/api/meshes/${scope.account}/${scope.region}/${encodeURIComponent(mesh)}/topology`;
  const load = useCallback(async () => {
    try {
      const current = await getJson(path);
      const now = Date.now() / 1000;
      if (previous.current) setRates(computeRates(previous.current.data, current, now - previous.current.at));
      previous.current = { data: current, at: now };
      setTopology(current);
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  }, [path]);
  useEffect(() => { load(); }, [load, changes]);
  useEffect(() => {
    const timer = setInterval(load, STATS_MS);
    return () => clearInterval(timer);
  }, [load]);
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (!topology) return html`<p>loading…</p>`;
  const node = topology.nodes.find((item) => item.id === selected);
  const translation = topology.translation || {};
  return html`<div class="topology-view">
    ${translation.error && html`<div class="error">translation failed: ${translation.error}</div>`}
    ${(translation.problems || []).length > 0 && html`<details class="problems"><summary>
      ${translation.problems.length} translation problem(s)</summary>
      <ul>${translation.problems.map((problem) => html`<li>${problem}</li>`)}</ul></details>`}
    <div class="graph"><${Topology} topology=${topology} rates=${rates} selected=${selected} onSelect=${setSelected} /></div>
    ${node && html`<pre class="detail" data-testid="node-detail">${JSON.stringify(node, null, 2)}</pre>`}
    <p class="revision">store revision ${topology.revision}</p>
  </div>`;
}

// ---- explain and lint --------------------------------------------------------------------------
function ExplainView({ scope, mesh, changes }) {
  const [proxies, setProxies] = useState([]);
  const [form, setForm] = useState({ proxy: "", method: "GET", url: "http://", headers: "" });
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const base = `/_appmesh-local/api/meshes/${scope.account}/${scope.region}/${encodeURIComponent(mesh)}`;
  useEffect(() => {
    getJson(`${base}/topology?stats=0`).then((topology) => {
      const found = topology.nodes.filter((node) => node.proxy).map((node) => node.id);
      setProxies(found);
      if (!form.proxy && found.length) setForm((old) => ({ ...old, proxy: found[0] }));
    }).catch(setError);
  }, [base, changes]);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    const [kind, name] = form.proxy.split("/");
    const headers = {};
    for (const line of form.headers.split("\n")) {
      const at = line.indexOf(":");
      if (at > 0) headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    try {
      setAnswer(await getJson(`${base}/explain`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ kind, name, url: form.url, method: form.method, headers }),
      }));
    } catch (caught) {
      setError(caught);
    }
  };
  const set = (key) => (event) => setForm({ ...form, [key]: event.target.value });
  return html`<div class="explain">
    <form onSubmit=${submit} data-testid="explain-form">
      <select value=${form.proxy} onChange=${set("proxy")} name="proxy">
        ${proxies.map((proxy) => html`<option>${proxy}</option>`)}
      </select>
      <select value=${form.method} onChange=${set("method")} name="method">
        ${["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].map((method) => html`<option>${method}</option>`)}
      </select>
      <input class="url" value=${form.url} onInput=${set("url")} name="url" />
      <textarea rows="3" placeholder="header: value (one per line)" value=${form.headers} onInput=${set("headers")}
                name="headers"></textarea>
      <button type="submit">Explain</button>
    </form>
    <${ErrorLine} error=${error} />
    ${answer && html`<pre class="explanation" data-testid="explanation">${answer.text}</pre>`}
  </div>`;
}

function LintView({ scope, mesh, changes }) {
  const [findings, setFindings] = useState(null);
  const [error, setError] = useState(null);
  const path = `/_appmesh-local/api/meshes/${scope.account}/${scope.region}/${encodeURIComponent(mesh)}/lint`;
  useEffect(() => { getJson(path).then((answer) => setFindings(answer.findings)).catch(setError); }, [path, changes]);
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (!findings) return html`<p>linting…</p>`;
  if (!findings.length) return html`<p class="ok" data-testid="lint-clean">No findings.</p>`;
  return html`<table class="lint" data-testid="lint">
    <tr><th>severity</th><th>finding</th><th>resource</th><th>field</th><th>why</th></tr>
    ${findings.map((item) => html`<tr class=${item.severity}>
      <td>${item.severity}</td><td>${item.code}</td><td>${item.resource}</td><td>${item.field}</td><td>${item.message}</td>
    </tr>`)}
  </table>`;
}

// ---- the page ----------------------------------------------------------------------------------
const TABS = { topology: "Topology", resources: "Resources", explain: "Explain", lint: "Lint" };

function App() {
  const changes = useChanges();
  const [meshes, setMeshes] = useState([]);
  const [scope, setScope] = useState({ account: "123456789012", region: "us-east-1" });
  const [mesh, setMesh] = useState(new URLSearchParams(location.search).get("mesh") || "");
  const [tab, setTab] = useState(new URLSearchParams(location.search).get("tab") || "topology");
  useEffect(() => {
    getJson("/_appmesh-local/api/meshes").then((found) => {
      setMeshes(found);
      if (!mesh && found.length) {
        setScope({ account: found[0].account, region: found[0].region });
        setMesh(found[0].mesh);
      }
    });
  }, [changes]);
  const choose = (value) => {
    const [account, region, name] = value.split("/");
    setScope({ account, region });
    setMesh(name);
  };
  return html`<header>
      <h1>appmesh-local</h1>
      <label>Mesh <select data-testid="mesh-select" value=${`${scope.account}/${scope.region}/${mesh}`}
                          onChange=${(e) => choose(e.target.value)}>
        ${meshes.map((item) => html`<option value=${`${item.account}/${item.region}/${item.mesh}`}>
          ${item.mesh} (${item.account}, ${item.region})</option>`)}
      </select></label>
      <label>Account <input value=${scope.account} size="13" name="account"
                            onChange=${(e) => setScope({ ...scope, account: e.target.value })} /></label>
      <label>Region <input value=${scope.region} size="11" name="region"
                           onChange=${(e) => setScope({ ...scope, region: e.target.value })} /></label>
      <${NewMesh} scope=${scope} onCreated=${(name) => setMesh(name)} />
    </header>
    <nav>${Object.entries(TABS).map(([key, title]) => html`
      <a href="#" class=${tab === key ? "active" : ""} data-tab=${key}
         onClick=${(e) => { e.preventDefault(); setTab(key); }}>${title}</a>`)}</nav>
    <main>
      ${!mesh && html`<p>No mesh yet: create one above (or with the AWS CLI).</p>`}
      ${mesh && tab === "topology" && html`<${TopologyView} scope=${scope} mesh=${mesh} changes=${changes} />`}
      ${mesh && tab === "resources" && html`<${Resources} scope=${scope} mesh=${mesh} changes=${changes} />`}
      ${mesh && tab === "explain" && html`<${ExplainView} scope=${scope} mesh=${mesh} changes=${changes} />`}
      ${mesh && tab === "lint" && html`<${LintView} scope=${scope} mesh=${mesh} changes=${changes} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById("app"));
