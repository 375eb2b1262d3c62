// The actionkit debugger page: runs, a run's rejected rows and calls, from the JSON API.
// Plain DOM, no framework: every value is written with textContent, never as HTML.
"use strict";

const COUNTS = ["queried", "added", "changed", "removed", "succeeded", "rejected"];
const POLL_MS = 3000;
let timer = null;

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// "#/runs/3?pk=u7" -> {path: ["runs", "3"], params: URLSearchParams("pk=u7")}
function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?", 2);
  return { path: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
}

function show(view) {
  for (const id of ["runs-view", "run-view"]) document.getElementById(id).hidden = id !== view;
}

function schedule(fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, POLL_MS);
}

// The runs list

async function renderRuns(params) {
  show("runs-view");
  const sync = params.get("sync") || "";
  document.getElementById("sync-filter").value = sync;
  const query = sync ? `?sync=${encodeURIComponent(sync)}` : "";
  let body;
  try {
    body = await getJSON(`/api/runs${query}`);
  } catch (error) {
    setStatus(`The runs cannot be read: ${error.message}`, true);
    return;
  }
  const tbody = document.querySelector("#runs tbody");
  tbody.replaceChildren(
    ...body.runs.map((run) =>
      el(
        "tr",
        { class: "run", dataset: { runId: String(run.id), status: run.status } },
        el("td", {}, el("a", { href: `#/runs/${run.id}`, class: "run-link", text: `#${run.id}` })),
        el("td", { text: run.sync }),
        el("td", { text: run.dry_run ? `${run.mode} (dry run)` : run.mode }),
        el("td", { class: `status status-${run.status}`, text: run.status }),
        el("td", { text: run.started_at }),
        el("td", { text: run.ended_at || "" }),
        ...COUNTS.map((name) =>
          el("td", { class: `number count-${name}`, text: String(run[name]) }),
        ),
      ),
    ),
  );
  document.getElementById("no-runs").hidden = body.runs.length > 0;
  setStatus(`${body.runs.length} run${body.runs.length === 1 ? "" : "s"}; updated ${new Date().toLocaleTimeString()}`);
  schedule(route);
}

// One run

function pretty(value) {
  if (value === null || value === undefined) return "(none)";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

function callCard(call) {
  const title = `${call.method || ""} ${call.url || ""} → ${call.status ?? "no answer"} (${call.outcome}, ${call.attempts} attempt${call.attempts === 1 ? "" : "s"})`;
  const card = el(
    "article",
    { class: "call", id: `call-${call.id}`, dataset: { callId: String(call.id) } },
    el("h4", { text: `Call #${call.id}: ${title}` }),
    el("p", { class: "keys", text: `Rows: ${call.primary_keys.join(", ")}` }),
  );
  if (call.error_message) {
    card.append(el("p", { class: "error", text: `${call.error_code}: ${call.error_message}` }));
  }
  card.append(
    el(
      "div",
      { class: "panes" },
      el("div", {}, el("h5", { text: "Request" }), el("pre", { class: "request", text: pretty(call.request) })),
      el("div", {}, el("h5", { text: "Response" }), el("pre", { class: "response", text: pretty(call.response) })),
    ),
  );
  return card;
}

function rejectedRow(row) {
  const link = row.call
    ? el("button", { type: "button", class: "call-link", text: `#${row.call.id}` })
    : el("span", { text: "before sending" });
  if (row.call) {
    link.addEventListener("click", () => {
      const card = document.getElementById(`call-${row.call.id}`);
      if (card) {
        for (const other of document.querySelectorAll(".call.highlight")) other.classList.remove("highlight");
        card.classList.add("highlight");
        card.scrollIntoView({ block: "nearest" });
      }
    });
  }
  return el(
    "tr",
    { class: "rejected", dataset: { primaryKey: row.primary_key } },
    el("td", { class: "primary-key", text: row.primary_key }),
    el("td", { class: "code", text: row.error_code }),
    el("td", { class: "message", text: row.error }),
    el("td", {}, link),
  );
}

async function renderRun(runId, params) {
  show("run-view");
  const key = params.get("pk") || "";
  document.getElementById("pk-search").value = key;
  const query = key ? `?primary_key=${encodeURIComponent(key)}` : "";
  let body;
  try {
    body = await getJSON(`/api/runs/${encodeURIComponent(runId)}${query}`);
  } catch (error) {
    document.getElementById("run-title").textContent = `Run #${runId}`;
    setStatus(error.message, true);
    return;
  }
  const run = body.run;
  const title = document.getElementById("run-title");
  title.textContent = `Run #${run.id} of ${run.sync}: `;
  title.append(el("span", { class: `status status-${run.status}`, text: run.status }));
  const summary = document.getElementById("run-summary");
  summary.replaceChildren(
    ...[["mode", run.dry_run ? `${run.mode} (dry run)` : run.mode], ["started", run.started_at], ["ended", run.ended_at || ""]]
      .concat(COUNTS.map((name) => [name, String(run[name])]))
      .flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { class: `summary-${name}`, text: value })]),
  );
  const error = document.getElementById("run-error");
  error.hidden = !run.error;
  error.textContent = run.error || "";
  document.querySelector("#rejected tbody").replaceChildren(...body.rejected.map(rejectedRow));
  document.getElementById("rejected-count").textContent = `(${body.rejected.length}${key ? ` for ${key}` : ""})`;
  document.getElementById("calls").replaceChildren(...body.calls.map(callCard));
  document.getElementById("calls-count").textContent = `(${body.calls.length}${key ? ` carrying ${key}` : ""})`;
  setStatus(`Run #${run.id}; updated ${new Date().toLocaleTimeString()}`);
  if (run.status === "running") schedule(route);
}

function route() {
  clearTimeout(timer);
  const { path, params } = parseHash();
  if (path[0] === "runs" && path[1]) renderRun(path[1], params);
  else renderRuns(params);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sync-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const sync = document.getElementById("sync-filter").value.trim();
    location.hash = sync ? `#/?sync=${encodeURIComponent(sync)}` : "#/";
  });
  document.getElementById("refresh").addEventListener("click", route);
  document.getElementById("pk-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const runId = parseHash().path[1];
    const key = document.getElementById("pk-search").value.trim();
    location.hash = key ? `#/runs/${runId}?pk=${encodeURIComponent(key)}` : `#/runs/${runId}`;
  });
  document.getElementById("pk-clear").addEventListener("click", () => {
    location.hash = `#/runs/${parseHash().path[1]}`;
  });
  window.addEventListener("hashchange", route);
  route();
});
