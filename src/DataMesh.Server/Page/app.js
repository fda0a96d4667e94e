// DataMesh's page over the controller's API (docs/server.md). Plain DOM, no framework, nothing from outside this server.
"use strict";
(() => {
  const api = document.querySelector('meta[name="datamesh-api"]').content;
  const $ = (id) => document.getElementById(id);
  const editor = $("definition"), gutter = $("gutter"), result = $("result"), problemsList = $("problems"), planOutput = $("plan-output");
  const errors = [];
  let token = sessionStorage.getItem("datamesh-token") || "";
  let badLines = new Set();

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) node.append(child);
    return node;
  }

  async function call(method, path, body) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "text/plain; charset=utf-8";
    const response = await fetch(api + path, { method, headers, body, cache: "no-store" });
    let json = null;
    try { json = await response.json(); } catch { /* an empty or non-JSON body */ }
    // A token is asked for when the API challenges for one; a refused client certificate is the browser's to change.
    if (response.status === 401 && (response.headers.get("WWW-Authenticate") || "").startsWith("Bearer")) $("token-form").hidden = false;
    return { status: response.status, ok: response.ok, json };
  }

  function addError(text) {
    const stamp = new Date().toLocaleTimeString();
    // The same error again (a failing component, every poll) moves to the top instead of filling the list.
    const seen = errors.findIndex((e) => e.text === text);
    if (seen >= 0) errors.splice(seen, 1);
    errors.unshift({ text, stamp });
    errors.length = Math.min(errors.length, 20);
    $("errors").replaceChildren(...errors.map((e) => el("li", { textContent: `${e.stamp} ${e.text}` })));
  }

  function setResult(text, good) {
    result.textContent = text;
    result.className = good ? "good" : "bad";
  }

  // --- the editor: line numbers, problems at their line ---
  function renderGutter() {
    const count = editor.value.split("\n").length;
    const lines = [];
    for (let i = 1; i <= count; i++) {
      const line = el("span", { className: badLines.has(i) ? "bad" : "", textContent: (badLines.has(i) ? "! " : "") + i });
      line.dataset.line = i;
      lines.push(line);
    }
    gutter.replaceChildren(...lines);
    gutter.scrollTop = editor.scrollTop;
  }

  function goTo(line, column) {
    const lines = editor.value.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
    const lineLength = (lines[line - 1] || "").length;
    editor.focus();
    editor.setSelectionRange(offset + Math.min(Math.max(column - 1, 0), lineLength), offset + lineLength);
    const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 20;
    editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  function showProblems(problems) {
    badLines = new Set(problems.map((p) => p.line));
    problemsList.replaceChildren(...problems.map((p) => {
      const text = `Line ${p.line}, column ${p.column}: ${p.path}: ${p.reason}`;
      const button = el("button", { type: "button", textContent: text, title: "Go to line " + p.line });
      button.dataset.line = p.line;
      button.addEventListener("click", () => goTo(p.line, p.column));
      return el("li", {}, button);
    }));
    renderGutter();
  }

  function showPlan(plan) {
    planOutput.replaceChildren(
      ...plan.changes.filter((c) => c.action !== "unchanged").map((c) => el("div", { className: c.action, textContent: c.line })),
      el("div", { className: "unchanged", textContent: plan.text.split("\n").filter((l) => l.startsWith("Plan:") || l.startsWith("Note:")).join("\n") }));
  }

  async function run(button, action) {
    const buttons = document.querySelectorAll(".actions button");
    buttons.forEach((b) => { b.disabled = true; });
    try { await action(); } catch (e) { addError(`${button.textContent}: ${e.message}`); setResult(e.message, false); } finally {
      buttons.forEach((b) => { b.disabled = false; });
      button.focus();
    }
  }

  // Answers an error of the API; true when it was one.
  function failed(what, response) {
    if (response.ok) return false;
    const problems = response.json && response.json.problems || [];
    showProblems(problems);
    const message = response.json && response.json.error || `HTTP ${response.status}`;
    setResult(`${what}: ${message}`, false);
    addError(`${what}: ${message}`);
    return true;
  }

  async function validate() {
    const response = await call("POST", "/validate", editor.value);
    if (failed("Validate", response)) return;
    showProblems(response.json.problems);
    if (response.json.valid) {
      setResult(`Valid: ${response.json.sources} source(s), ${response.json.pipelines} pipeline(s).`, true);
    } else {
      const n = response.json.problems.length;
      setResult(`${n} problem${n === 1 ? "" : "s"}; the first is on line ${response.json.problems[0].line}.`, false);
    }
  }

  async function plan() {
    const response = await call("POST", "/plan", editor.value);
    if (failed("Plan", response)) return;
    showProblems([]);
    showPlan(response.json);
    setResult(response.json.has_changes ? "Planned: apply to make these changes." : "No changes: everything is as the definition declares.", true);
  }

  async function apply() {
    const response = await call("POST", "/apply", editor.value);
    if (failed("Apply", response)) return;
    showProblems([]);
    showPlan(response.json);
    setResult(response.json.has_changes ? `Applied: generation ${response.json.generation}.` : "No changes: everything is as the definition declares.", true);
    poll(true);
  }

  async function load() {
    const response = await call("GET", "/definition");
    if (failed("Load", response)) return;
    editor.value = response.json.text;
    showProblems([]);
    setResult(`Loaded generation ${response.json.generation}.`, true);
  }

  async function remove() {
    if (!confirm("Delete the applied definition? Every runner stops its sources and pipelines; topics are kept.")) return;
    const response = await call("DELETE", "/definition");
    if (failed("Delete", response)) return;
    setResult("Deleted: every runner stops what it ran.", true);
    poll(true);
  }

  // --- the components, polled ---
  function stateOf(component) {
    if (component.desired === "paused") return "paused";
    const states = component.runners.map((r) => r.state);
    for (const s of ["running", "failed", "refused", "retrying", "starting", "standby", "paused", "stopped"]) if (states.includes(s)) return s;
    return "waiting";
  }

  function deadLettersOf(component) {
    const counts = component.runners.map((r) => r.dead_lettered).filter((n) => typeof n === "number");
    return counts.length === 0 ? "" : String(counts.reduce((a, b) => a + b, 0));
  }

  function snapshotOf(component) {
    const tables = component.runners.flatMap((r) => r.snapshot || []);
    if (!tables.length) return "";
    const cell = el("div");
    for (const t of tables) {
      const line = el("div", { textContent: `${t.table}: ${t.rows}${t.estimated_rows ? " of ~" + t.estimated_rows : ""} rows${t.reading ? ", reading" : ""}${t.paused ? ", paused" : ""} ` });
      if (t.estimated_rows) line.append(el("progress", { max: t.estimated_rows, value: Math.min(t.rows, t.estimated_rows), title: `${t.table} snapshot` }));
      cell.append(line);
    }
    return cell;
  }

  function actionButton(component, verb) {
    const [kind, name] = [component.component.slice(0, component.component.indexOf("/")), component.component.slice(component.component.indexOf("/") + 1)];
    const button = el("button", { type: "button", textContent: verb[0].toUpperCase() + verb.slice(1) });
    button.setAttribute("aria-label", `${verb} ${component.component}`);
    button.addEventListener("click", async () => {
      const response = await call("POST", `/${kind}s/${encodeURIComponent(name)}/${verb}`);
      if (!response.ok) addError(`${verb} ${component.component}: ${response.json && response.json.error || "HTTP " + response.status}`);
      poll(true);
    });
    return button;
  }

  function renderStatus(status) {
    const rows = status.components.map((c) => {
      const state = stateOf(c);
      const messages = c.runners.filter((r) => r.message).map((r) => `${r.runner}: ${r.message}`);
      const actions = el("td", {}, actionButton(c, c.desired === "paused" ? "resume" : "pause"));
      // Resume also restarts a failed component (docs/server.md).
      if (c.desired !== "paused" && c.runners.some((r) => r.state === "failed")) actions.append(" ", actionButton(c, "resume"));
      if (c.component.startsWith("source/")) actions.append(" ", actionButton(c, "snapshot"));
      const runners = c.runners.map((r) => `${r.runner} ${r.state}${r.current ? "" : " (older version)"}`).join("; ");
      const row = el("tr", {},
        el("th", { scope: "row", textContent: c.component }),
        el("td", { textContent: c.desired }),
        el("td", { className: "state state-" + state, textContent: state, title: runners || "no runner reports it yet" }),
        el("td", { className: "num lag", textContent: c.lag === null || c.lag === undefined ? "" : String(c.lag) }),
        el("td", { className: "num dead-letters", textContent: deadLettersOf(c) }),
        el("td", {}, snapshotOf(c)),
        el("td", { className: "message", textContent: messages.join("; ") }),
        actions);
      row.dataset.component = c.component;
      row.dataset.state = state;
      if (state === "failed" || state === "retrying") for (const m of messages) addError(`${c.component}: ${m}`);
      return row;
    });
    const body = $("components").tBodies[0];
    // Keep the focused button's row focused across a refresh.
    const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    body.replaceChildren(...(rows.length ? rows : [el("tr", { className: "empty" }, el("td", { colSpan: 8, textContent: "Nothing is applied." }))]));
    if (focused) { const again = body.querySelector(`button[aria-label="${CSS.escape(focused)}"]`); if (again) again.focus(); }
    $("summary").textContent = status.generation
      ? `Generation ${status.generation}, applied ${new Date(status.applied_at).toLocaleString()}; updated ${new Date().toLocaleTimeString()}`
      : `Nothing is applied; updated ${new Date().toLocaleTimeString()}`;
  }

  let timer = 0;
  async function poll(now) {
    clearTimeout(timer);
    if (now) await new Promise((r) => setTimeout(r, 300));
    try {
      const response = await call("GET", "/status");
      if (response.ok) renderStatus(response.json);
      else $("summary").textContent = `Status: ${response.json && response.json.error || "HTTP " + response.status}`;
    } catch (e) {
      $("summary").textContent = `Status: the server cannot be reached (${e.message})`;
    }
    timer = setTimeout(poll, 1500);
  }

  editor.addEventListener("input", () => { badLines = new Set(); renderGutter(); });
  editor.addEventListener("scroll", () => { gutter.scrollTop = editor.scrollTop; });
  editor.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run($("validate"), validate); }
  });
  $("validate").addEventListener("click", (e) => run(e.currentTarget, validate));
  $("plan").addEventListener("click", (e) => run(e.currentTarget, plan));
  $("apply").addEventListener("click", (e) => run(e.currentTarget, apply));
  $("load").addEventListener("click", (e) => run(e.currentTarget, load));
  $("delete").addEventListener("click", (e) => run(e.currentTarget, remove));
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("datamesh-token", token);
    $("token").value = "";
    $("token-form").hidden = true;
    poll(true);
  });
  renderGutter();
  poll(false);
})();
