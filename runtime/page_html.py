"""The status page's HTML: one self-contained document (inline CSS and JavaScript, no external
asset, no build step), kept as a string so that it ships inside the package like any module.

It opens `status/stream` (relative, so it also works behind `kubectl proxy` or an ingress
path) and redraws from each `status` event: model, repo and commit, state, the current
phase's progress bar, the estimate until Ready (counting down between events), phase timings,
the warm-up result, the error with its reason and the transition history. Every value is set
with `textContent`, never parsed as HTML. Element ids are what the browser test reads: `state`
(with `data-state`), `bar`, `eta`, `repo`, `commit`, `error-reason`, `error-message`,
`history`, `phases`, `warmup`, `connection`.

The page spells no state, reason or timings key itself: `runtime/page.py` puts the runtime's
vocabulary (`modeldeploy.runtime_report`) as JSON in place of `VOCABULARY_SLOT` once, when it is
imported, and the script reads every such name from it (`S.READY`, `V.phases`, ...), so a name
renamed there is renamed here. Colours follow `data-tone` (ok, bad, busy), which the script
derives from the state, so the CSS needs no state names either.
"""

VOCABULARY_SLOT = "/*@vocabulary@*/null"
"""Where the vocabulary's JSON goes: the script's `const V = ...;`."""

TEMPLATE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>modeldeploy runtime</title>
<style>
  :root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --busy: #bf8700;
          --muted: #6e7781; --line: #8884; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem;
         padding: 0 1rem; }
  h1 { font-size: 1.35rem; margin: 0 0 .2rem; }
  h2 { font-size: 1rem; margin: 0 0 .4rem; }
  section { margin: 1.1rem 0; }
  code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
  .muted { color: var(--muted); }
  #state { display: inline-block; padding: .1rem .7rem; border-radius: 1rem; font-weight: 600;
           background: var(--busy); color: #fff; }
  #state[data-tone="ok"] { background: var(--ok); }
  #state[data-tone="bad"] { background: var(--bad); }
  progress { width: 100%; height: 1.3rem; margin: .5rem 0 .2rem; }
  body[data-tone="bad"] progress { accent-color: var(--bad); }
  body[data-tone="ok"] progress { accent-color: var(--ok); }
  #eta { font-size: 1.1rem; font-weight: 600; margin-top: .3rem; }
  #error { border: 2px solid var(--bad); border-radius: .4rem; padding: .6rem .8rem; }
  #error-message { white-space: pre-wrap; overflow-wrap: anywhere; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid var(--line);
           vertical-align: top; }
  td.message { overflow-wrap: anywhere; }
  tr.current td { font-weight: 600; }
</style>
</head>
<body>
<header>
  <h1 id="name">modeldeploy runtime</h1>
  <div>repo <code id="repo">—</code> · commit <code id="commit">—</code>
    <span id="revision" class="muted"></span> <span id="verified" class="muted"></span></div>
</header>
<section>
  <span id="state" data-state="">connecting…</span> <span id="step" class="muted"></span>
  <progress id="bar" max="1" value="0"></progress>
  <div><span id="percent">0 %</span> <span id="detail" class="muted"></span></div>
  <div id="eta">—</div>
  <div id="connection" class="muted">connecting to status/stream…</div>
</section>
<section id="error" hidden>
  <h2><span id="error-state"></span>: <code id="error-reason"></code></h2>
  <div id="error-message"></div>
</section>
<section>
  <h2>Phases</h2>
  <table><thead><tr><th>phase</th><th>took</th><th>estimate left</th></tr></thead>
    <tbody id="phases"></tbody></table>
</section>
<section>
  <h2>Warm-up</h2>
  <div id="warmup">not run yet</div>
</section>
<section>
  <h2>History</h2>
  <table><thead><tr><th>state</th><th>at</th><th>reason</th><th>message</th></tr></thead>
    <tbody id="history"></tbody></table>
</section>
<script>
"use strict";
const V = /*@vocabulary@*/null;
const S = V.states;
const PHASES = V.phases;
const $ = (id) => document.getElementById(id);
let last = null;
let etaSeconds = null;
let etaSince = 0;

function show(id, value) {
  $(id).textContent = value === null || value === undefined || value === "" ? "—" : String(value);
}
function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}
function seconds(s) {
  return s === null || s === undefined ? "—" : s.toFixed(s < 10 ? 2 : 0) + " s";
}
function row(body, cells, className) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  cells.forEach((value, i) => {
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined ? "—" : String(value);
    if (i === cells.length - 1 && body.id === "history") td.className = "message";
    tr.appendChild(td);
  });
  body.appendChild(tr);
}
function detailText(d) {
  const parts = [];
  if (d.bytesTotal) parts.push(bytes(d.bytesDone || 0) + " of " + bytes(d.bytesTotal));
  if (d.bytesPerSecond) parts.push("at " + bytes(d.bytesPerSecond) + "/s");
  if (d.filesTotal) parts.push((d.filesDone || 0) + "/" + d.filesTotal + " files");
  return parts.join(", ");
}
function showEta() {
  if (!last) return;
  let text;
  if (last.state === S.READY) text = S.READY + ": serving";
  else if (last.state === S.FAILED) text = "will not become ready (see the error below)";
  else if (last.state === S.DRAINING) text = "shutting down";
  else if (etaSeconds === null) text = "ready in: estimating…";
  else {
    const left = Math.max(0, etaSeconds - (performance.now() - etaSince) / 1000);
    text = "ready in about " + Math.ceil(left) + " s";
  }
  $("eta").textContent = text;
}
function tone(state) {
  if (state === S.READY) return "ok";
  return state === S.FAILED || state === S.DRAINING ? "bad" : "busy";
}
function render(doc) {
  last = doc;
  const model = doc.model || {};
  show("name", model.name);
  document.title = (model.name || "model") + " · " + doc.state;
  show("repo", model.repo || model.directory);
  show("commit", doc.commit);
  $("revision").textContent = doc.revision ? "(" + doc.revision + ")" : "";
  $("verified").textContent = doc.commit ? (doc.verified ? "verified" : "not verified") : "";
  $("state").textContent = doc.state;
  $("state").dataset.state = doc.state;
  document.body.dataset.state = doc.state;
  $("state").dataset.tone = document.body.dataset.tone = tone(doc.state);
  $("bar").value = doc.progress;
  $("percent").textContent = Math.floor(doc.progress * 100) + " %";
  const detail = doc.progressDetail || {};
  $("step").textContent = detail.step || "";
  $("detail").textContent = detailText(detail);
  etaSeconds = doc.eta ? doc.eta.seconds : null;
  etaSince = performance.now();
  showEta();
  const ahead = {};
  for (const p of (doc.eta ? doc.eta.phases : [])) ahead[p.state] = p;
  const phases = $("phases");
  phases.replaceChildren();
  for (const [state, key] of PHASES) {
    const took = doc.timings ? doc.timings[key] : null;
    const guess = ahead[state];
    const left = guess ? (guess.seconds === null ? "unknown" : seconds(guess.seconds)
                          + " (" + guess.basis + ")") : "";
    row(phases, [state, seconds(took), left], state === doc.state ? "current" : "");
  }
  if (doc.timings && doc.timings[V.startupSeconds] !== null) {
    row(phases, ["start to " + S.READY, seconds(doc.timings[V.startupSeconds]), ""]);
  }
  const w = doc.warmup;
  if (w) {
    $("warmup").textContent = (w.ok ? "passed: " : "failed: ") + w.tokens + " tokens in "
      + seconds(w.latencySeconds) + " (" + w.tokensPerSecond + " tokens/s), prompt "
      + JSON.stringify(w.prompt);
  } else if (doc.error) {
    $("warmup").textContent = doc.error.reason === V.reasons.WARMUP_FAILED
      ? "failed (see the error)" : "not run: the start failed before it";
  }
  $("error").hidden = !doc.error;
  if (doc.error) {
    $("error-state").textContent = S.FAILED;
    $("error-reason").textContent = doc.error.reason;
    $("error-message").textContent = doc.error.message;
  }
  const history = $("history");
  history.replaceChildren();
  for (const h of doc.history || []) {
    row(history, [h.state, new Date(h.at).toLocaleTimeString(), h.reason, h.message]);
  }
}
setInterval(showEta, 500);
const source = new EventSource("status/stream");
source.addEventListener("status", (event) => {
  render(JSON.parse(event.data));
  $("connection").textContent = "live: status/stream";
});
source.onerror = () => {
  $("connection").textContent = last && last.state === S.FAILED
    ? "the runtime has stopped (" + S.FAILED + "); this is its last report"
    : "connection lost; retrying…";
};
</script>
</body>
</html>
"""
