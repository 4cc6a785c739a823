// mlgym trajectory viewer: plain JavaScript, no build step.
"use strict";

const GROUPS = [
  { key: "folder", label: "Folders" },
  { key: "task", label: "Tasks" },
  { key: "model", label: "Models" },
  { key: "suffix", label: "Suffixes" },
];
const BIG_CHARS = 4000;
const BIG_LINES = 60;
const PREVIEW_LINES = 40;

const state = {
  runs: [],
  selected: new Map(), // group key -> Set of selected values
  search: "",
  current: null, // entry
  traj: null, // loaded .traj
  step: 0,
  cache: new Map(), // path -> traj (a few recent ones)
};

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};

const groupValue = (run, key) => (key === "suffix" ? run.suffix || "(none)" : run[key] || "?");
const runLabel = (r) =>
  `Folder: ${r.folder} | Task: ${r.task} | Agent: ${r.model} | Run: ${r.run ?? "-"}`;
const fmt3 = (x) => (typeof x === "number" ? x.toFixed(3) : String(x));

async function loadIndex() {
  const resp = await fetch("/api/index");
  const data = await resp.json();
  state.runs = data.runs;
  $("root-path").textContent = `Folder: ${data.root}`;
  for (const g of GROUPS) {
    const values = new Set(state.runs.map((r) => groupValue(r, g.key)));
    const prev = state.selected.get(g.key);
    // Keep earlier choices; new values start selected.
    const sel = new Set();
    for (const v of values) if (!prev || prev.has(v) || !prev.known?.has(v)) sel.add(v);
    sel.known = values;
    state.selected.set(g.key, sel);
  }
  renderFilters();
  renderList();
}

function renderFilters() {
  const box = $("filters");
  box.replaceChildren();
  for (const g of GROUPS) {
    const sel = state.selected.get(g.key);
    const values = [...sel.known].sort();
    const opts = el("div", { class: "opts" });
    for (const v of values) {
      const cb = el("input", { type: "checkbox", "data-group": g.key, value: v });
      cb.checked = sel.has(v);
      cb.addEventListener("change", () => {
        if (cb.checked) sel.add(v);
        else sel.delete(v);
        renderList();
      });
      opts.append(el("label", { title: v }, cb, " " + v));
    }
    const setAll = (on) => {
      sel.clear();
      if (on) values.forEach((v) => sel.add(v));
      opts.querySelectorAll("input").forEach((c) => (c.checked = on));
      renderList();
    };
    const actions = el(
      "div",
      { class: "group-actions" },
      el("button", { type: "button", text: "Select all", onclick: () => setAll(true) }),
      " ",
      el("button", { type: "button", text: "Clear all", onclick: () => setAll(false) }),
    );
    box.append(
      el(
        "details",
        { "data-group": g.key },
        el("summary", { text: `${g.label} (${sel.size}/${values.length})` }),
        actions,
        opts,
      ),
    );
  }
}

function filteredRuns() {
  const q = state.search.trim().toLowerCase();
  return state.runs.filter((r) => {
    for (const g of GROUPS) if (!state.selected.get(g.key).has(groupValue(r, g.key))) return false;
    if (!q) return true;
    const text = `${runLabel(r)} ${r.path} ${r.run_dir} ${r.exit_status || ""}`.toLowerCase();
    return text.includes(q);
  });
}

function statusClass(status) {
  if (!status) return "status-bad";
  return status === "submitted" || status.startsWith("autosubmission") ? "status-ok" : "status-bad";
}

function renderList() {
  for (const g of GROUPS) {
    const sel = state.selected.get(g.key);
    const summary = document.querySelector(`#filters details[data-group="${g.key}"] summary`);
    if (summary) summary.textContent = `${g.label} (${sel.size}/${sel.known.size})`;
  }
  const runs = filteredRuns();
  $("count").textContent = `Showing ${runs.length} trajectories`;
  const list = $("runs");
  list.replaceChildren();
  for (const r of runs) {
    const best = r.scores && r.scores.length ? r.scores[r.scores.length - 1] : null;
    const scoreText = best ? " · " + Object.entries(best).map(([k, v]) => `${k} ${fmt3(v)}`).join(", ") : "";
    const btn = el(
      "button",
      { type: "button", "data-path": r.path, title: r.path },
      el("div", { text: runLabel(r) }),
      el("div", { class: "status" },
        el("span", { class: statusClass(r.exit_status), text: r.exit_status || "(no exit status)" }),
        scoreText),
    );
    if (state.current && state.current.path === r.path) btn.classList.add("selected");
    btn.addEventListener("click", () => selectRun(r.path, 0));
    list.append(el("li", {}, btn));
  }
}

function renderReport(entry, traj) {
  const info = (traj && traj.info) || {};
  const stats = info.model_stats || entry.model_stats || {};
  const status = traj ? info.exit_status : entry.exit_status;
  const rows = [
    ["Instance cost", `$${Number(stats.total_cost ?? 0).toFixed(2)}`],
    ["Tokens sent", (stats.tokens_sent ?? 0).toLocaleString()],
    ["Tokens received", (stats.tokens_received ?? 0).toLocaleString()],
    ["API calls", String(stats.api_calls ?? 0)],
    ["Exit status", status || "(empty: the run crashed)"],
  ];
  if (traj) rows.push(["Steps", String((traj.trajectory || []).length)]);
  if (info.submission) rows.push(["Submission", info.submission]);
  const table = $("stats");
  table.replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
  table.querySelectorAll("td")[4].className = statusClass(status);

  const scores = (traj && info.score && info.score.length ? info.score : entry.scores) || [];
  const baseline = entry.baseline || {};
  const metrics = new Set([...Object.keys(baseline)]);
  scores.forEach((s) => Object.keys(s).forEach((k) => metrics.add(k)));
  const box = $("scores");
  box.replaceChildren();
  if (!metrics.size) box.append(el("p", { class: "muted", text: "No scores recorded." }));
  for (const m of metrics) {
    const div = el("div", { class: "metric" }, el("strong", { text: `Metric: ${m}` }));
    div.append(el("div", { text: `  Baseline: ${m in baseline ? fmt3(baseline[m]) : "n/a"}` }));
    const values = scores.map((s) => s[m]);
    const numeric = values.filter((v) => typeof v === "number");
    // Lower is better for losses, errors and times; higher for everything else.
    const lowerBetter = /loss|rmse|mse|mae|error|time/i.test(m);
    const best = numeric.length ? (lowerBetter ? Math.min : Math.max)(...numeric) : null;
    values.forEach((v, i) => {
      const line = el("div", { text: `  Attempt ${i + 1}: ${v === undefined ? "n/a" : fmt3(v)}` });
      if (v === best && numeric.length > 1) line.classList.add("best");
      div.append(line);
    });
    box.append(div);
  }
}

function cleanThought(text) {
  return (text || "").replace(/^\s*DISCUSSION\s*\n?/, "").trim();
}

function renderObservation(text) {
  const box = $("observation");
  box.replaceChildren();
  text = text == null ? "" : String(text);
  const lines = text.split("\n");
  if (text.length <= BIG_CHARS && lines.length <= BIG_LINES) {
    box.append(el("pre", { text: text || "(no output)" }));
    return;
  }
  box.append(el("pre", { class: "preview", text: lines.slice(0, PREVIEW_LINES).join("\n") }));
  const full = el("pre", { class: "full" });
  const details = el(
    "details",
    { class: "big-output" },
    el("summary", { text: `Show full output (${lines.length} lines, ${text.length.toLocaleString()} characters)` }),
    full,
  );
  details.addEventListener("toggle", () => {
    if (details.open && !full.textContent) full.textContent = text;
  });
  box.append(details);
}

function renderStep() {
  const steps = (state.traj && state.traj.trajectory) || [];
  const n = steps.length;
  const k = Math.min(Math.max(state.step, 0), Math.max(n - 1, 0));
  state.step = k;
  $("step-label").textContent = n ? `Step ${k + 1} / ${n}` : "Step 0 / 0";
  $("progress").max = Math.max(n, 1);
  $("progress").value = n ? k + 1 : 0;
  $("step-range").max = Math.max(n, 1);
  $("step-range").value = k + 1;
  $("prev").disabled = k <= 0;
  $("next").disabled = k >= n - 1;
  const s = steps[k] || {};
  let meta = "";
  try {
    const st = JSON.parse(s.state || "{}");
    meta = `Open file: ${st.open_file ?? "n/a"} · Directory: ${st.working_dir ?? "?"}`;
  } catch (e) {
    meta = s.state || "";
  }
  if (typeof s.execution_time === "number") meta += ` · ${s.execution_time.toFixed(2)} s`;
  $("step-meta").textContent = meta;
  $("thought").textContent = cleanThought(s.thought);
  $("action").textContent = s.action || "";
  renderObservation(s.observation);
  const hash = `#run=${encodeURIComponent(state.current.path)}&step=${k + 1}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

async function selectRun(path, step) {
  const entry = state.runs.find((r) => r.path === path);
  if (!entry) return;
  state.current = entry;
  state.step = step || 0;
  document.querySelectorAll("#runs button.selected").forEach((b) => b.classList.remove("selected"));
  const btn = document.querySelector(`#runs button[data-path="${CSS.escape(path)}"]`);
  if (btn) btn.classList.add("selected");
  $("empty").hidden = true;
  $("run").hidden = false;
  $("run-title").textContent = entry.run_dir;
  $("run-path").textContent = entry.path;
  renderReport(entry, null);
  $("steps").hidden = true;
  $("loading").hidden = false;
  let traj = state.cache.get(path);
  if (!traj) {
    const resp = await fetch(`/api/traj?path=${encodeURIComponent(path)}`);
    if (!resp.ok) {
      $("loading").textContent = `Could not load ${path}`;
      return;
    }
    traj = await resp.json();
    state.cache.set(path, traj);
    if (state.cache.size > 4) state.cache.delete(state.cache.keys().next().value);
  }
  if (state.current !== entry) return; // another run was picked meanwhile
  state.traj = traj;
  $("loading").hidden = true;
  $("steps").hidden = false;
  renderReport(entry, traj);
  renderStep();
}

function move(delta) {
  if (!state.traj) return;
  state.step += delta;
  renderStep();
}

function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const path = params.get("run");
  if (path) selectRun(path, Math.max(0, Number(params.get("step") || 1) - 1));
}

function init() {
  $("search").addEventListener("input", (e) => {
    state.search = e.target.value;
    renderList();
  });
  $("reset-filters").addEventListener("click", () => {
    for (const sel of state.selected.values()) sel.known.forEach((v) => sel.add(v));
    state.search = "";
    $("search").value = "";
    renderFilters();
    renderList();
  });
  $("reload").addEventListener("click", () => loadIndex());
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("step-range").addEventListener("input", (e) => {
    state.step = Number(e.target.value) - 1;
    renderStep();
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
    if (e.key === "ArrowLeft") move(-1);
    if (e.key === "ArrowRight") move(1);
  });
  loadIndex().then(fromHash);
}

init();
