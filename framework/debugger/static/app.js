// The actionkit debugger page: runs, a run's rows and calls, from the JSON API.
// Plain DOM, no framework: every value is written with textContent, never as HTML.
"use strict";

const COUNTS = ["queried", "added", "changed", "unchanged", "removed", "succeeded", "rejected"];
const ROWS_PAGE = 100;
const CALLS_PAGE = 20;
const POLL_MS = 3000;
let timer = null;
const openCalls = new Set(); // ids of the calls expanded, kept open across refreshes

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

// The hash of a run's view with some parameters changed (empty values dropped).
function runHash(runId, params, changes) {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    if (value === "" || value === null || value === undefined || value === 0) next.delete(key);
    else next.set(key, String(value));
  }
  const query = next.toString();
  return `#/runs/${runId}${query ? `?${query}` : ""}`;
}

function show(view) {
  for (const id of ["runs-view", "run-view"]) document.getElementById(id).hidden = id !== view;
}

function schedule(fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, POLL_MS);
}

function plural(count, word) {
  return `${count.toLocaleString("en")} ${word}${count === 1 ? "" : "s"}`;
}

// Times: local and relative, the ISO time in the title attribute

function relative(iso, now = Date.now()) {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

function localTime(iso) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (today) return time;
  return `${date.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" })} ${time}`;
}

// 850 -> "850 ms", 3500 -> "3.5 s", 125250 -> "2 min 5 s", 3780000 -> "1 h 3 min"
function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min${whole % 60 ? ` ${whole % 60} s` : ""}`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
}

function timeCell(iso, className) {
  if (!iso) return el("span", { class: className, text: "" });
  return el("time", {
    class: className,
    datetime: iso,
    title: iso,
    text: `${localTime(iso)} (${relative(iso)})`,
  });
}

function durationCell(run, className) {
  if (!run.ended_at) {
    const text = run.status === "running" ? `running for ${duration(Date.now() - Date.parse(run.started_at))}` : "";
    return el("span", { class: className, title: `started ${run.started_at}`, text });
  }
  return el("span", {
    class: className,
    title: `${run.started_at} to ${run.ended_at}`,
    text: duration(Date.parse(run.ended_at) - Date.parse(run.started_at)),
  });
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
        el("td", {}, timeCell(run.started_at, "started")),
        el("td", {}, durationCell(run, "duration")),
        ...COUNTS.map((name) =>
          el("td", { class: `number count-${name}`, text: run[name].toLocaleString("en") }),
        ),
      ),
    ),
  );
  document.getElementById("no-runs").hidden = body.runs.length > 0;
  setStatus(`${plural(body.runs.length, "run")}; updated ${new Date().toLocaleTimeString()}`);
  schedule(route);
}

// One run: its summary, its rows (filtered, paged), its calls (one line each, paged)

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

function callLine(call) {
  const attempts = plural(call.attempts, "attempt");
  return `#${call.id} ${call.method || ""} ${call.url || ""} → ${call.status ?? "no answer"} · ${call.outcome} · ${attempts}`;
}

// The request and response of one call, with its rows and error.
function callBody(call) {
  const body = el("div", { class: "call-body" });
  body.append(el("p", { class: "keys", text: `Rows: ${call.primary_keys.join(", ")}` }));
  if (call.error_message) {
    body.append(el("p", { class: "error", text: `${call.error_code}: ${call.error_message}` }));
  }
  body.append(
    el(
      "div",
      { class: "panes" },
      el("div", {}, el("h5", { text: "Request" }), el("pre", { class: "request", text: pretty(call.request) })),
      el("div", {}, el("h5", { text: "Response" }), el("pre", { class: "response", text: pretty(call.response) })),
    ),
  );
  return body;
}

async function loadCall(callId, into) {
  into.replaceChildren(el("p", { class: "loading", text: "Loading…" }));
  try {
    const { call } = await getJSON(`/api/calls/${encodeURIComponent(callId)}`);
    into.replaceChildren(callBody(call));
  } catch (error) {
    into.replaceChildren(el("p", { class: "error", text: error.message }));
  }
}

// One call as one line; expanding it loads its request and response.
function callItem(call) {
  const slot = el("div", { class: "slot" });
  const details = el(
    "details",
    { class: `call outcome-${call.outcome}`, id: `call-${call.id}`, dataset: { callId: String(call.id) } },
    el("summary", { class: "line", text: callLine(call) }),
    slot,
  );
  details.addEventListener("toggle", () => {
    if (details.open) {
      openCalls.add(call.id);
      if (!slot.dataset.loaded) {
        slot.dataset.loaded = "1";
        loadCall(call.id, slot);
      }
    } else {
      openCalls.delete(call.id);
    }
  });
  if (openCalls.has(call.id)) details.open = true;
  return el("li", {}, details);
}

// A row's call: opened in the list when it is on this page, else shown on its own.
function showCall(callId) {
  for (const other of document.querySelectorAll(".call.highlight")) other.classList.remove("highlight");
  const item = document.getElementById(`call-${callId}`);
  if (item) {
    item.open = true;
    item.classList.add("highlight");
    item.scrollIntoView({ block: "nearest" });
    return;
  }
  const detail = document.getElementById("call-detail");
  detail.hidden = false;
  detail.dataset.callId = String(callId);
  detail.querySelector("h3").firstChild.textContent = `Call #${callId} `;
  loadCall(callId, detail.querySelector(".body"));
  detail.scrollIntoView({ block: "nearest" });
}

// Why a row has no call to show: not sent, refused before the diff, or its call not kept.
function noCall(row) {
  if (row.status === "skipped") return "not sent";
  if (row.operation === null) return "before sending";
  return "call not kept";
}

function rowLine(row) {
  const call = row.call_id
    ? el("button", { type: "button", class: "call-link", text: `#${row.call_id}` })
    : el("span", { class: "no-call", text: noCall(row) });
  if (row.call_id) call.addEventListener("click", () => showCall(row.call_id));
  const error = row.error_code ? `${row.error_code}: ${row.error}` : "";
  return el(
    "tr",
    { class: `row status-row-${row.status}`, dataset: { primaryKey: row.primary_key, status: row.status, operation: row.operation || "" } },
    el("td", { class: "primary-key", text: row.primary_key }),
    el("td", { class: "operation", text: row.operation || "—", title: row.operation ? "" : "refused before the diff" }),
    el("td", { class: `row-status status-${row.status}`, text: row.status }),
    el("td", { class: "message", text: error }),
    el("td", {}, call),
  );
}

function pager(id, total, offset, size, onPage) {
  const nav = document.getElementById(id);
  nav.hidden = total <= size && offset === 0;
  const last = Math.min(offset + size, total);
  nav.querySelector(".position").textContent = total
    ? `${(offset + 1).toLocaleString("en")}–${last.toLocaleString("en")} of ${total.toLocaleString("en")}`
    : "none";
  const previous = nav.querySelector(".previous");
  const next = nav.querySelector(".next");
  previous.disabled = offset === 0;
  next.disabled = offset + size >= total;
  previous.onclick = () => onPage(Math.max(0, offset - size));
  next.onclick = () => onPage(offset + size);
}

// What the rows table cannot show: an old run's rows, the unchanged rows counted only.
function rowsNote(run) {
  if (!run.rows_recorded) {
    return "This run was recorded before rows were: only its rejected rows are listed, without their operation.";
  }
  if (run.unchanged > 0 && run.mode !== "all") {
    const verb = run.unchanged === 1 ? "was" : "were";
    return `${plural(run.unchanged, "unchanged row")} ${verb} compared with the state and not sent: they are counted, not listed.`;
  }
  return "";
}

function offsetParam(params, name) {
  const value = Number.parseInt(params.get(name) || "0", 10);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

async function renderRun(runId, params) {
  show("run-view");
  const key = params.get("pk") || "";
  const status = params.get("status") || "";
  const operation = params.get("op") || "";
  const rowsOffset = offsetParam(params, "rows");
  const callsOffset = offsetParam(params, "calls");
  document.getElementById("pk-search").value = key;
  document.getElementById("status-filter").value = status;
  document.getElementById("operation-filter").value = operation;
  const id = encodeURIComponent(runId);
  const rowsQuery = new URLSearchParams({ limit: ROWS_PAGE, offset: rowsOffset });
  const callsQuery = new URLSearchParams({ limit: CALLS_PAGE, offset: callsOffset });
  if (key) {
    rowsQuery.set("primary_key", key);
    callsQuery.set("primary_key", key);
  }
  if (status) rowsQuery.set("status", status);
  if (operation) rowsQuery.set("operation", operation);
  let run, rows, calls;
  try {
    [{ run }, rows, calls] = await Promise.all([
      getJSON(`/api/runs/${id}?limit=1`),
      getJSON(`/api/runs/${id}/rows?${rowsQuery}`),
      getJSON(`/api/runs/${id}/calls?${callsQuery}`),
    ]);
  } catch (error) {
    document.getElementById("run-title").textContent = `Run #${runId}`;
    setStatus(error.message, true);
    return;
  }
  const title = document.getElementById("run-title");
  title.textContent = `Run #${run.id} of ${run.sync}: `;
  title.append(el("span", { class: `status status-${run.status}`, text: run.status }));
  const summary = document.getElementById("run-summary");
  const entries = [
    ["mode", run.dry_run ? `${run.mode} (dry run)` : run.mode],
    ["started", timeCell(run.started_at, "started")],
    ["duration", durationCell(run, "duration")],
    ...COUNTS.map((name) => [name, run[name].toLocaleString("en")]),
  ];
  summary.replaceChildren(
    ...entries.flatMap(([name, value]) => [
      el("dt", { text: name }),
      typeof value === "string" ? el("dd", { class: `summary-${name}`, text: value }) : el("dd", { class: `summary-${name}` }, value),
    ]),
  );
  const error = document.getElementById("run-error");
  error.hidden = !run.error;
  error.textContent = run.error || "";

  const filters = [status && `status ${status}`, operation && `operation ${operation}`, key && `key ${key}`].filter(Boolean);
  document.querySelector("#rows tbody").replaceChildren(...rows.rows.map(rowLine));
  document.getElementById("rows-count").textContent = `(${rows.total.toLocaleString("en")}${filters.length ? ` with ${filters.join(", ")}` : ""})`;
  const note = document.getElementById("rows-note");
  note.textContent = rowsNote(run);
  note.hidden = !note.textContent;
  pager("rows-pager", rows.total, rows.offset, ROWS_PAGE, (offset) => {
    location.hash = runHash(runId, params, { rows: offset });
  });

  document.getElementById("calls").replaceChildren(...calls.calls.map(callItem));
  document.getElementById("calls-count").textContent = `(${calls.total.toLocaleString("en")}${key ? ` carrying ${key}` : ""})`;
  pager("calls-pager", calls.total, calls.offset, CALLS_PAGE, (offset) => {
    location.hash = runHash(runId, params, { calls: offset });
  });
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
  const here = () => parseHash();
  document.getElementById("pk-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const { path, params } = here();
    const key = document.getElementById("pk-search").value.trim();
    location.hash = runHash(path[1], params, { pk: key, rows: 0, calls: 0 });
  });
  document.getElementById("pk-clear").addEventListener("click", () => {
    const { path, params } = here();
    location.hash = runHash(path[1], params, { pk: "", rows: 0, calls: 0 });
  });
  for (const [id, name] of [["status-filter", "status"], ["operation-filter", "op"]]) {
    document.getElementById(id).addEventListener("change", (event) => {
      const { path, params } = here();
      location.hash = runHash(path[1], params, { [name]: event.target.value, rows: 0 });
    });
  }
  document.getElementById("row-filters").addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("call-detail-close").addEventListener("click", () => {
    document.getElementById("call-detail").hidden = true;
  });
  window.addEventListener("hashchange", () => {
    document.getElementById("call-detail").hidden = true;
    route();
  });
  route();
});
