// vfx studio: the page. Plain JS, no libraries; everything comes from this studio's server.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);

function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  q.set("token", TOKEN);
  return `${path}?${q}`;
}

async function post(path, body) {
  const r = await fetch(url(path), {
    method: "POST",
    headers: { "content-type": "application/json", "x-vfx-token": TOKEN },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await r.json(); } catch (e) { /* no body */ }
  return { ok: r.ok, status: r.status, data };
}

const S = {
  info: null,          // /api/state
  node: null,          // selected node id (null: the default node)
  frame: 0,
  scale: 1,
  mode: "rgb",         // rgb or alpha
  inMark: null,
  outMark: null,
  zoom: 0,             // 0: fit
  panX: 0, panY: 0,
  playing: 0,          // 0, or the playback speed (negative: backwards)
  shown: null,         // {node, key, frame, scale, version}
};

// ---- pictures -------------------------------------------------------------------------------
const bitmaps = new Map();   // "key|frame|scale" -> ImageBitmap, least recently used first
const MAX_BITMAPS = 400;
let wanted = null, inFlight = false, lastBitmap = null;

function nodeInfo(id) {
  if (!S.info) return null;
  return S.info.nodes.find((n) => n.id === (id || S.info.default_node)) || null;
}
function viewed() { return nodeInfo(S.node); }
// the node whose pictures the viewer shows for the selected one (an encoder: what it encodes)
function pictured() { const n = viewed(); return n && n.shows !== n.id ? nodeInfo(n.shows) : n; }
function videoOf(n) { return (n && n.video) || (S.info && S.info.settings) || null; }
function total() { const v = videoOf(pictured()); return v ? v.frames : 1; }
function fps() { const v = videoOf(pictured()); return v ? v.fps_float : 24; }

function cacheGet(k) {
  const b = bitmaps.get(k);
  if (b) { bitmaps.delete(k); bitmaps.set(k, b); }
  return b;
}
function cachePut(k, b) {
  bitmaps.set(k, b);
  while (bitmaps.size > MAX_BITMAPS) {
    const first = bitmaps.keys().next().value;
    const old = bitmaps.get(first);
    bitmaps.delete(first);
    if (old && old !== lastBitmap) old.close();
  }
}

function request(frame) {
  const n = pictured();
  if (!n || !n.video) return;
  wanted = { node: n.id, key: n.key, frame, scale: S.scale, version: S.info.version, t0: performance.now() };
  pump();
}

async function pump() {
  if (inFlight || !wanted) return;
  const w = wanted;
  wanted = null;
  inFlight = true;
  try {
    const k = `${w.key}|${w.frame}|${w.scale}`;
    let bmp = w.key ? cacheGet(k) : null;
    let cached = !!bmp, serverMs = 0;
    if (!bmp) {
      const r = await fetch(url("api/frame", { node: w.node, frame: w.frame, scale: w.scale, k: w.key }));
      if (!r.ok) {
        let msg = `${r.status}`;
        try { msg = (await r.json()).error; } catch (e) { /* not JSON */ }
        setTiming(`frame ${w.frame}: ${msg}`);
        return;
      }
      const timing = r.headers.get("server-timing") || "";
      serverMs = parseFloat((timing.match(/dur=([\d.]+)/) || [0, 0])[1]);
      cached = r.headers.get("x-vfx-cached") === "1";
      bmp = await createImageBitmap(await r.blob(), { premultiplyAlpha: "none", colorSpaceConversion: "none" });
      if (w.key) cachePut(k, bmp);
    }
    draw(bmp, w);
    const ms = performance.now() - w.t0;
    setTiming(`frame ${w.frame} shown in ${ms.toFixed(0)} ms` + (serverMs ? ` (server ${serverMs.toFixed(0)} ms${cached ? ", cached" : ""})` : " (page cache)"));
    countShown();
  } catch (e) {
    setTiming(`frame ${w.frame}: ${e}`);
  } finally {
    inFlight = false;
    if (wanted) pump();
  }
}

function draw(bmp, w) {
  const c = $("view");
  const full = nodeInfo(w.node).video;
  if (c.width !== bmp.width || c.height !== bmp.height) { c.width = bmp.width; c.height = bmp.height; }
  const ctx = c.getContext("2d", { willReadFrequently: S.mode === "alpha" });
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.drawImage(bmp, 0, 0);
  if (S.mode === "alpha") {
    const img = ctx.getImageData(0, 0, c.width, c.height, { colorSpace: "srgb" });
    const d = img.data;
    for (let i = 0; i < d.length; i += 4) { const a = d[i + 3]; d[i] = d[i + 1] = d[i + 2] = a; d[i + 3] = 255; }
    ctx.putImageData(img, 0, 0);
  }
  lastBitmap = bmp;
  c.style.width = `${full.width}px`;
  c.style.height = `${full.height}px`;
  S.shown = w;
  c.dataset.node = w.node; c.dataset.key = w.key || ""; c.dataset.frame = String(w.frame);
  c.dataset.scale = String(w.scale); c.dataset.version = String(w.version); c.dataset.mode = S.mode;
  layoutView();
}

function redraw() { if (lastBitmap && S.shown) draw(lastBitmap, S.shown); }

// ---- zoom and pan ---------------------------------------------------------------------------
function layoutView() {
  const c = $("view"), stage = $("stage"), n = nodeInfo(S.shown ? S.shown.node : S.node);
  if (!n || !n.video) return;
  const W = n.video.width, H = n.video.height;
  let z = S.zoom;
  if (!z) {
    z = Math.min(stage.clientWidth / W, stage.clientHeight / H) * 0.98 || 1;
    S.panX = (stage.clientWidth - W * z) / 2;
    S.panY = (stage.clientHeight - H * z) / 2;
  }
  c.style.transform = `translate(${S.panX}px, ${S.panY}px) scale(${z})`;
  c.classList.toggle("pixelated", z * S.scale > 1.5);
  $("zoom-level").textContent = S.zoom ? `${Math.round(z * 100)}%` : `fit (${Math.round(z * 100)}%)`;
  S.currentZoom = z;
}

function zoomAt(factor, cx, cy) {
  const z0 = S.currentZoom || 1, z = Math.max(0.05, Math.min(64, z0 * factor));
  S.panX = cx - (cx - S.panX) * (z / z0);
  S.panY = cy - (cy - S.panY) * (z / z0);
  S.zoom = z;
  layoutView();
}

function setupStage() {
  const stage = $("stage");
  stage.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = stage.getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  let drag = null;
  stage.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, px: S.panX, py: S.panY }; stage.setPointerCapture(e.pointerId); stage.focus(); });
  stage.addEventListener("pointerup", () => { drag = null; });
  stage.addEventListener("pointermove", (e) => {
    if (drag) {
      if (!S.zoom) S.zoom = S.currentZoom;
      S.panX = drag.px + e.clientX - drag.x; S.panY = drag.py + e.clientY - drag.y;
      layoutView();
    }
    readout(e);
  });
  stage.addEventListener("dblclick", () => { S.zoom = 0; layoutView(); });
  $("fit").onclick = () => { S.zoom = 0; layoutView(); };
  $("one").onclick = () => { const st = $("stage"); S.zoom = 1; S.panX = 0; S.panY = 0; layoutView(); st.focus(); };
  window.addEventListener("resize", () => { layoutView(); drawSound(); });
}

// ---- pixel values under the cursor ------------------------------------------------------------
let pixelBusy = false, pixelNext = null;
function readout(e) {
  const c = $("view");
  if (!S.shown) return;
  const n = nodeInfo(S.shown.node);
  if (!n) return;
  const r = c.getBoundingClientRect();
  const x = Math.floor((e.clientX - r.left) / r.width * n.video.width);
  const y = Math.floor((e.clientY - r.top) / r.height * n.video.height);
  if (x < 0 || y < 0 || x >= n.video.width || y >= n.video.height) { $("readout").textContent = ""; return; }
  pixelNext = { node: n.id, frame: S.shown.frame, x, y };
  pumpPixel();
}
async function pumpPixel() {
  if (pixelBusy || !pixelNext) return;
  const p = pixelNext; pixelNext = null; pixelBusy = true;
  try {
    const r = await fetch(url("api/pixel", p));
    const d = await r.json();
    if (r.ok) {
      const lin = d.linear.map((v) => v.toFixed(4)).join(" ");
      $("readout").textContent = `x ${d.x} y ${d.y}  linear (premultiplied) ${lin}  display ${d.display.join(" ")}`;
    }
  } catch (e) { /* the next move asks again */ }
  finally { pixelBusy = false; if (pixelNext) setTimeout(pumpPixel, 30); }
}

// ---- timeline ---------------------------------------------------------------------------------
function timecode(frame) {
  const nominal = Math.max(1, Math.round(fps()));
  const ff = frame % nominal, s = Math.floor(frame / nominal);
  const p = (v) => String(v).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}:${p(ff)}`;
}

function go(frame, fromPlayback = false) {
  const last = total() - 1;
  frame = Math.max(0, Math.min(last, Math.round(frame)));
  if (!fromPlayback && S.playing) stop();
  S.frame = frame;
  updateTimeline();
  request(frame);
  loadOptions();
}

function updateTimeline() {
  const last = Math.max(1, total() - 1);
  $("timecode").textContent = timecode(S.frame);
  $("frame").value = S.frame;
  $("frame").max = total() - 1;
  $("length").textContent = `of ${total()} @ ${+fps().toFixed(3)} fps`;
  $("playhead").style.left = `${(S.frame / last) * 100}%`;
  const io = $("inout");
  if (S.inMark !== null || S.outMark !== null) {
    const a = S.inMark ?? 0, b = S.outMark ?? total() - 1;
    io.style.display = "block";
    io.style.left = `${(a / last) * 100}%`;
    io.style.width = `${(Math.max(0, b - a) / last) * 100}%`;
    $("range").textContent = `in ${a} out ${b} (${b - a + 1} frames)`;
  } else {
    io.style.display = "none";
    $("range").textContent = "";
  }
}

function drawMarks() {
  const box = $("marks");
  box.textContent = "";
  const n = pictured();
  if (!n) return;
  const last = Math.max(1, total() - 1);
  const add = (node, upstream) => {
    for (const k of node.keyframes) for (const f of k.frames) {
      if (f < 0 || f > last) continue;
      const m = document.createElement("div");
      m.className = "mark" + (upstream ? " upstream" : "");
      m.style.left = `${(f / last) * 100}%`;
      m.title = `${node.id}.${k.option}: key at frame ${f}`;
      m.dataset.frame = f;
      box.appendChild(m);
    }
  };
  add(n, false);
  for (const id of n.upstream) { const u = nodeInfo(id); if (u) add(u, true); }
}

function range() {
  const a = S.inMark ?? 0, b = S.outMark ?? total() - 1;
  return b >= a ? [a, b] : [0, total() - 1];
}

function step(what) {
  const sec = Math.max(1, Math.round(fps()));
  const moves = { "-frame": -1, "+frame": 1, "-second": -sec, "+second": sec };
  if (what === "-start") go(0);
  else if (what === "+end") go(total() - 1);
  else go(S.frame + moves[what]);
}

function setupTimeline() {
  const track = $("track");
  let down = false;
  const at = (e) => {
    const r = track.getBoundingClientRect();
    return Math.round(((e.clientX - r.left) / r.width) * (total() - 1));
  };
  track.addEventListener("pointerdown", (e) => { down = true; track.setPointerCapture(e.pointerId); go(at(e)); });
  track.addEventListener("pointermove", (e) => { if (down) go(at(e)); });
  track.addEventListener("pointerup", () => { down = false; });
  for (const b of document.querySelectorAll("[data-step]")) b.onclick = () => step(b.dataset.step);
  $("frame").addEventListener("change", () => go(parseInt($("frame").value, 10) || 0));
  $("play").onclick = () => (S.playing ? stop() : play(1));
  $("mark-in").onclick = () => { S.inMark = S.frame; if (S.outMark !== null && S.outMark < S.inMark) S.outMark = null; updateTimeline(); };
  $("mark-out").onclick = () => { S.outMark = S.frame; if (S.inMark !== null && S.inMark > S.outMark) S.inMark = null; updateTimeline(); };
  $("clear-marks").onclick = () => { S.inMark = S.outMark = null; updateTimeline(); };
}

// ---- playback: at the pipeline's rate, frames dropped honestly, the achieved rate shown ----------
let playStart = 0, playFrom = 0, shownTimes = [];
function countShown() {
  if (!S.playing) return;
  const now = performance.now();
  shownTimes.push(now);
  while (shownTimes.length && now - shownTimes[0] > 1000) shownTimes.shift();
}
function play(speed) {
  S.playing = speed;
  const [a, b] = range();
  if (S.frame < a || S.frame > b || (speed > 0 && S.frame >= b) || (speed < 0 && S.frame <= a)) S.frame = speed > 0 ? a : b;
  playStart = performance.now(); playFrom = S.frame; shownTimes = [];
  $("play").textContent = "❚❚";
  requestAnimationFrame(tick);
}
function stop() {
  S.playing = 0;
  $("play").textContent = "▶";
  $("fps").textContent = "";
  loadOptions();
}
function tick(now) {
  if (!S.playing) return;
  const [a, b] = range();
  const span = b - a + 1;
  const advanced = Math.floor(((now - playStart) / 1000) * fps() * Math.abs(S.playing));
  let f = S.playing > 0 ? playFrom - a + advanced : b - playFrom + advanced;
  f = ((f % span) + span) % span;
  const frame = S.playing > 0 ? a + f : b - f;
  if (frame !== S.frame) {
    S.frame = frame;
    updateTimeline();
    request(frame);
  }
  const achieved = shownTimes.length > 1 ? ((shownTimes.length - 1) * 1000) / (shownTimes[shownTimes.length - 1] - shownTimes[0]) : 0;
  $("fps").textContent = `playing ${S.playing > 0 ? "" : "backwards "}${Math.abs(S.playing)}x: ${achieved.toFixed(1)} of ${(fps() * Math.abs(S.playing)).toFixed(1)} fps`;
  $("fps").dataset.achieved = achieved.toFixed(2);
  requestAnimationFrame(tick);
}

// ---- graph and options ----------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawGraph() {
  const svg = $("graph");
  svg.textContent = "";
  if (!S.info || !S.info.graph) return;
  const W = 118, H = 40, GX = 22, GY = 12, M = 6;
  const pos = {};
  let cols = 0, rows = 0;
  for (const n of S.info.nodes) { cols = Math.max(cols, n.column + 1); rows = Math.max(rows, n.row + 1); }
  for (const n of S.info.nodes) pos[n.id] = [M + n.column * (W + GX), M + n.row * (H + GY)];
  svg.setAttribute("width", M * 2 + cols * W + (cols - 1) * GX);
  svg.setAttribute("height", M * 2 + rows * H + (rows - 1) * GY);
  for (const [src, dst] of S.info.edges) {
    const [x0, y0] = pos[src], [x1, y1] = pos[dst];
    const a = [x0 + W, y0 + H / 2], b = [x1, y1 + H / 2], mx = (a[0] + b[0]) / 2;
    svg.appendChild(el("path", { class: "edge", d: `M${a[0]},${a[1]} C${mx},${a[1]} ${mx},${b[1]} ${b[0] - 4},${b[1]}` }));
  }
  const current = viewed();
  for (const n of S.info.nodes) {
    const [x, y] = pos[n.id];
    const g = el("g", { class: `node kind-${n.kind}`, transform: `translate(${x},${y})`, "data-node": n.id });
    if (current && current.id === n.id) g.classList.add("selected");
    if (!n.video) g.classList.add("novideo");
    if (problemsOf(n.id).length) g.classList.add("bad");
    g.appendChild(el("rect", { width: W, height: H, rx: 6 }));
    g.appendChild(el("text", { x: 8, y: 17 }, n.id));
    g.appendChild(el("text", { x: 8, y: 33, class: "type" }, n.type));
    const t = el("title", {}, `${n.id} (${n.type})` + (n.video ? `: ${n.video.width}x${n.video.height}, ${n.video.frames} frames` : ": no video"));
    g.appendChild(t);
    g.addEventListener("click", () => select(n.id));
    svg.appendChild(g);
  }
  $("mermaid").textContent = S.info.mermaid || "";
}

function problemsOf(node) {
  return (S.info ? S.info.problems : []).filter((p) => p.node === node);
}

function select(id) {
  S.node = id;
  const n = pictured();
  drawGraph();
  drawMarks();
  drawSound();
  if (n && n.video) {
    if (S.frame >= n.video.frames) S.frame = n.video.frames - 1;
    updateTimeline();
    request(S.frame);
  }
  loadOptions();
}

let optionsSeq = 0;
async function loadOptions() {
  const n = viewed();
  if (!n || S.playing) return;
  const seq = ++optionsSeq;
  $("options-node").textContent = n.id;
  try {
    const r = await fetch(url("api/options", { node: n.id, frame: S.frame }));
    const d = await r.json();
    if (seq !== optionsSeq) return;
    if (!r.ok) { showOptions(n, null, d.error); return; }
    showOptions(n, d);
  } catch (e) { /* the next move asks again */ }
}

function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return String(+v.toFixed(6));
  return typeof v === "string" ? v : JSON.stringify(v);
}

function showOptions(n, d, error) {
  const body = $("options").tBodies[0];
  body.textContent = "";
  const probs = problemsOf(n.id);
  const row = (cells, cls) => {
    const tr = document.createElement("tr");
    if (cls) tr.className = cls;
    cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i === 1) td.className = "value"; tr.appendChild(td); });
    body.appendChild(tr);
    return tr;
  };
  for (const p of probs.filter((p) => !p.option || !(d && d.options.some((o) => o.name === p.option)))) {
    const tr = row([p.option || "(node)", "", "", p.line || ""], "bad");
    tr.dataset.option = p.option || "";
    tr.cells[1].textContent = `error: ${p.text}`;
  }
  if (!d) { if (error) row(["", error, "", ""], "bad"); return; }
  for (const o of d.options) {
    let from = o.set ? "set" : "default";
    if (o.animated) {
      const a = o.animated;
      from = a.kind === "keyframes" ? `keyframes at ${a.frames.join(", ")}` : a.kind === "expression" ? `expression ${fmt(a.expr)}` : a.kind === "driver" ? `driver ${a.driver}.${a.signal} x${a.scale} + ${a.offset}` : a.kind;
    }
    const bad = probs.filter((p) => p.option === o.name);
    const tr = row([o.name, fmt(o.value) + (o.error ? ` (${o.error})` : ""), from, o.set ? o.line : ""], bad.length ? "bad" : o.set ? "" : "default");
    tr.dataset.option = o.name;
    for (const p of bad) {
      const pr = document.createElement("div");
      pr.className = "problem";
      pr.textContent = `error: ${p.text}`;
      tr.cells[1].appendChild(pr);
    }
  }
}

// ---- the sound: waveform of the muxed audio, frames where event drivers fire -----------------------
let sound = null, soundVersion = -1;
async function loadSound() {
  if (!S.info || !S.info.graph || soundVersion === S.info.version) return drawSound();
  soundVersion = S.info.version;
  try {
    const r = await fetch(url("api/audio"));
    sound = r.ok ? await r.json() : null;
  } catch (e) { sound = null; }
  drawSound();
}
function drawSound() {
  const c = $("wave"), box = $("events");
  const ctx = c.getContext("2d");
  c.width = Math.max(100, $("track").clientWidth);
  ctx.clearRect(0, 0, c.width, c.height);
  box.textContent = "";
  const n = pictured();
  // the sound belongs to the output's timeline: shown with the nodes of the same length
  if (!sound || !n || !n.video || n.video.frames !== sound.frames) { c.dataset.frames = "0"; return; }
  const last = Math.max(1, sound.frames - 1), mid = c.height / 2;
  if (sound.waveform) {
    ctx.fillStyle = "rgba(140, 200, 160, 0.55)";
    const w = sound.waveform;
    for (let x = 0; x < c.width; x++) {
      const a = Math.floor((x / c.width) * w.length), b = Math.max(a + 1, Math.floor(((x + 1) / c.width) * w.length));
      let peak = 0;
      for (let i = a; i < b && i < w.length; i++) peak = Math.max(peak, w[i]);
      ctx.fillRect(x, mid - peak * mid, 1, Math.max(1, peak * c.height));
    }
    c.dataset.frames = String(w.length);
  }
  for (const ev of sound.events) for (const f of ev.frames) {
    const m = document.createElement("div");
    m.className = "event";
    m.style.left = `${(f / last) * 100}%`;
    m.title = `${ev.driver}.${ev.signal} fires (drives ${ev.node}.${ev.option}) at frame ${f}`;
    m.dataset.frame = f;
    box.appendChild(m);
  }
}

// ---- state, live reload, problems ----------------------------------------------------------------
async function refresh() {
  const r = await fetch(url("api/state"));
  const info = await r.json();
  S.info = info;
  $("pipeline").textContent = info.pipeline;
  const st = $("status");
  st.className = "status " + (info.ok ? "ok" : "bad");
  st.textContent = info.ok ? `valid (version ${info.version})` : `${info.problems.length} problem${info.problems.length > 1 ? "s" : ""} (version ${info.version})`;
  st.dataset.version = info.version;
  st.dataset.ok = info.ok ? "1" : "0";
  const list = $("problem-list");
  list.textContent = "";
  for (const p of info.problems) {
    const li = document.createElement("li");
    li.textContent = `error: ${p.text}`;
    li.dataset.node = p.node || ""; li.dataset.option = p.option || ""; li.dataset.line = p.line || "";
    if (p.node) li.onclick = () => select(p.node);
    list.appendChild(li);
  }
  $("problems").hidden = info.ok;
  $("stale").hidden = info.ok || !info.graph;
  $("stage").classList.toggle("stale", !info.ok);
  if (S.node && !nodeInfo(S.node)) S.node = null;
  $("render").disabled = !info.graph || !(info.encoders && info.encoders.length);
  drawGraph();
  drawMarks();
  updateTimeline();
  loadSound();
  if (info.graph) {
    const n = pictured();
    if (S.frame >= total()) S.frame = total() - 1;
    if (n && n.video && (!S.shown || S.shown.key !== n.key || S.shown.node !== n.id)) request(S.frame);
    else if (S.shown) { S.shown.version = info.version; $("view").dataset.version = String(info.version); }
  }
  loadOptions();
  if (info.render) showRender(info.render);
}

function listen() {
  const es = new EventSource(url("api/events"));
  es.addEventListener("reload", () => refresh());
  es.addEventListener("render", (e) => showRender(JSON.parse(e.data)));
  es.addEventListener("hello", (e) => { const v = JSON.parse(e.data).version; if (S.info && v !== S.info.version) refresh(); });
}

// ---- render and contact sheet ----------------------------------------------------------------
function showRender(job) {
  $("render-panel").hidden = false;
  const bar = $("progress");
  bar.value = job.percent;
  bar.dataset.percent = String(job.percent);
  bar.dataset.state = job.state;
  let text = `${job.state}: ${job.done}/${job.total} frames (${job.percent.toFixed(0)}%)`;
  if (job.state === "running") text += ` ${job.fps.toFixed(1)} fps, eta ${job.eta.toFixed(1)} s`;
  else text += ` in ${job.seconds.toFixed(2)} s`;
  if (job.error) text += ` — ${job.error}`;
  $("render-text").textContent = text;
  $("cancel").disabled = job.state !== "running";
  $("render").disabled = job.state === "running";
  const links = $("render-links");
  if (job.state !== "done") { if (job.state === "running") links.textContent = ""; return; }
  if (links.dataset.job === String(job.id)) return;
  links.dataset.job = String(job.id);
  links.textContent = "";
  for (const o of job.outputs) {
    const a = document.createElement("a");
    a.href = url(o.url);
    a.textContent = o.path;
    a.target = "_blank";
    a.className = "output";
    links.appendChild(a);
    links.appendChild(document.createTextNode(" "));
  }
  if (job.count > job.outputs.length) links.appendChild(document.createTextNode(`… and ${job.count - job.outputs.length} more`));
  const first = job.outputs[0];
  if (first && /\.(mp4|m4v|webm|mov)$/i.test(first.path)) {
    const v = document.createElement("video");
    v.controls = true;
    v.src = url(first.url);
    links.appendChild(v);
  }
}

async function startRender() {
  const body = {};
  if (S.inMark !== null || S.outMark !== null) { const [a, b] = range(); body.start = a; body.stop = b + 1; }
  const r = await post("api/render", body);
  if (!r.ok) {
    $("render-panel").hidden = false;
    $("render-text").textContent = `not started: ${r.data.error || r.status}`;
    return;
  }
  showRender(r.data);
}

function showSheet() {
  const [a, b] = range();
  const n = viewed();
  $("sheet-panel").hidden = false;
  $("sheet").src = url("api/sheet", { node: n ? n.id : "", count: 12, start: a, stop: b + 1, thumb: 240 });
}

// ---- keyboard: space, arrows, J/K/L, I/O ---------------------------------------------------------
function setupKeys() {
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    let used = true;
    if (k === " ") S.playing ? stop() : play(1);
    else if (k === "ArrowRight") step(e.shiftKey ? "+second" : "+frame");
    else if (k === "ArrowLeft") step(e.shiftKey ? "-second" : "-frame");
    else if (k === "ArrowUp") step("+second");
    else if (k === "ArrowDown") step("-second");
    else if (k === "Home") step("-start");
    else if (k === "End") step("+end");
    else if (k === "l" || k === "L") play(S.playing > 0 ? Math.min(8, S.playing * 2) : 1);
    else if (k === "j" || k === "J") play(S.playing < 0 ? Math.max(-8, S.playing * 2) : -1);
    else if (k === "k" || k === "K") { if (S.playing) stop(); }
    else if (k === "i" || k === "I") $("mark-in").click();
    else if (k === "o" || k === "O") $("mark-out").click();
    else used = false;
    if (used) e.preventDefault();
  });
}

function setTiming(text) { $("timing").textContent = text; }

function setup() {
  setupStage();
  setupTimeline();
  setupKeys();
  $("scale").onchange = () => { S.scale = parseInt($("scale").value, 10); request(S.frame); };
  $("mode").onclick = () => { S.mode = S.mode === "rgb" ? "alpha" : "rgb"; $("mode").textContent = S.mode === "rgb" ? "RGB" : "alpha"; redraw(); };
  $("render").onclick = startRender;
  $("cancel").onclick = () => post("api/render/cancel");
  $("sheet-button").onclick = showSheet;
  $("sheet-close").onclick = () => { $("sheet-panel").hidden = true; };
  refresh().then(listen);
}

window.studio = { S, go, select, refresh, play, stop };
setup();
