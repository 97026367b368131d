// vaelab explore: the latent scatter, decoding under the cursor, A->B interpolation, attribute
// arithmetic and prior samples. Plain JS, no external files; every image comes from /api/*.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const SNAP_PX = 6;  // a click this close to a test point picks that image's own z

let info, points, bounds, base;  // base: offscreen canvas with the points drawn once
let pcs = [];                    // coordinates 3..D in the PCA basis (sliders)
let cursor = null;               // [x, y] PCA coordinates under the mouse
const picks = { A: null, B: null, next: "A" };
let attrBase = null;             // z the attribute sliders edit
let attrWeights = [];
let sampleSeed = 0;

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

async function getJSON(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// Loads PNG URLs into one <img>: one request in flight, and only the latest pending one is kept,
// so fast mouse moves never queue up stale work.
function imageLoader(img) {
  let busy = false, pending = null;
  async function pump() {
    if (busy || pending === null) return;
    const url = pending;
    pending = null;
    busy = true;
    try {
      const r = await fetch(url);
      if (!r.ok) throw new Error((await r.json()).error || r.statusText);
      const old = img.src;
      img.src = URL.createObjectURL(await r.blob());
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    } catch (e) {
      showError(e.message);
    } finally {
      busy = false;
      pump();
    }
  }
  return (url) => { pending = url; pump(); };
}

const fmt = (z) => z.map((x) => +x.toFixed(5)).join(",");
const decodeUrl = (z) => "/api/decode.png?z=" + fmt(z);

// z = mean + sum_k c_k * component_k
function zFromCoords(c) {
  const { mean, components } = info.pca;
  const z = mean.slice();
  for (let k = 0; k < c.length; k++) {
    if (!c[k]) continue;
    for (let j = 0; j < z.length; j++) z[j] += c[k] * components[k][j];
  }
  return z;
}

function coordsAt(xy) {
  return [xy[0], xy[1], ...pcs].slice(0, info.latent_dim);
}

// ---- scatter ------------------------------------------------------------------------------
function computeBounds() {
  const xs = points.xy.map((p) => p[0]), ys = points.xy.map((p) => p[1]);
  const span = (v) => {
    let lo = Math.min(...v), hi = Math.max(...v);
    if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
    const pad = 0.08 * (hi - lo);
    return [lo - pad, hi + pad];
  };
  bounds = { x: span(xs), y: span(ys) };
}

const canvas = () => $("scatter");
function toPixel(p) {
  const c = canvas();
  return [(p[0] - bounds.x[0]) / (bounds.x[1] - bounds.x[0]) * c.width,
          (1 - (p[1] - bounds.y[0]) / (bounds.y[1] - bounds.y[0])) * c.height];
}
function fromPixel(px, py) {
  const c = canvas();
  return [bounds.x[0] + px / c.width * (bounds.x[1] - bounds.x[0]),
          bounds.y[0] + (1 - py / c.height) * (bounds.y[1] - bounds.y[0])];
}

function colourOf(i) {
  if (!points.labels) return "#1f77b4";
  if (info.is_attributes) return points.labels[i][+$("colour-by").value] ? "#e6550d" : "#9ecae1";
  return classColour(points.labels[i]);
}
function classColour(k) {
  const n = (info.label_names || []).length;
  return n <= PALETTE.length ? PALETTE[k % PALETTE.length] : `hsl(${(k * 360) / Math.max(n, 1)},70%,45%)`;
}

function drawBase() {
  const c = canvas();
  base = document.createElement("canvas");
  base.width = c.width;
  base.height = c.height;
  const g = base.getContext("2d");
  g.strokeStyle = "#ddd";
  const [ox, oy] = toPixel([0, 0]);
  g.beginPath(); g.moveTo(ox, 0); g.lineTo(ox, c.height); g.moveTo(0, oy); g.lineTo(c.width, oy); g.stroke();
  g.globalAlpha = 0.7;
  points.xy.forEach((p, i) => {
    const [x, y] = toPixel(p);
    g.fillStyle = colourOf(i);
    g.beginPath(); g.arc(x, y, 2.5, 0, 2 * Math.PI); g.fill();
  });
  drawLegend();
  redraw();
}

function redraw() {
  const g = canvas().getContext("2d");
  g.clearRect(0, 0, canvas().width, canvas().height);
  g.drawImage(base, 0, 0);
  for (const name of ["A", "B"]) {
    const p = picks[name];
    if (!p) continue;
    const [x, y] = toPixel(p.xy);
    g.strokeStyle = "#000"; g.lineWidth = 2;
    g.beginPath(); g.arc(x, y, 7, 0, 2 * Math.PI); g.stroke();
    g.fillStyle = "#000"; g.font = "bold 13px sans-serif"; g.fillText(name, x + 9, y - 9);
  }
  if (picks.A && picks.B) {
    const [ax, ay] = toPixel(picks.A.xy), [bx, by] = toPixel(picks.B.xy);
    g.setLineDash([4, 3]); g.beginPath(); g.moveTo(ax, ay); g.lineTo(bx, by); g.stroke(); g.setLineDash([]);
  }
}

function drawLegend() {
  const el = $("legend");
  el.replaceChildren();
  const items = info.is_attributes
    ? [["#e6550d", "with " + info.label_names[+$("colour-by").value]], ["#9ecae1", "without"]]
    : (info.label_names || []).map((name, k) => [classColour(k), name]);
  for (const [colour, name] of items) {
    const span = document.createElement("span");
    span.style.setProperty("--c", colour);
    span.textContent = name;
    el.append(span);
  }
}

function nearestPoint(px, py) {
  let best = -1, bestD = SNAP_PX * SNAP_PX;
  points.xy.forEach((p, i) => {
    const [x, y] = toPixel(p), d = (x - px) ** 2 + (y - py) ** 2;
    if (d <= bestD) { best = i; bestD = d; }
  });
  return best;
}

function labelText(label) {
  if (label === null || label === undefined) return "";
  if (info.is_attributes) return info.label_names.filter((_, a) => label[a]).slice(0, 4).join(", ");
  return info.label_names ? info.label_names[label] : String(label);
}

// ---- interactions ---------------------------------------------------------------------------
let decodeMain, loadA, loadB, loadStrip, loadSamples, loadAttrBase, loadAttrResult;

function showDecoded(z, where) {
  decodeMain(decodeUrl(z));
  $("decoded-at").textContent = where;
}

function onMove(ev) {
  const r = canvas().getBoundingClientRect();
  cursor = fromPixel(ev.clientX - r.left, ev.clientY - r.top);
  showDecoded(zFromCoords(coordsAt(cursor)), `PC1 ${cursor[0].toFixed(2)}, PC2 ${cursor[1].toFixed(2)}`);
}

async function onClick(ev) {
  const r = canvas().getBoundingClientRect();
  const px = ev.clientX - r.left, py = ev.clientY - r.top;
  const i = nearestPoint(px, py);
  let pick;
  try {
    if (i >= 0) {
      const p = await getJSON(`/api/points/${i}`);
      pcs = p.coords.slice(2);
      syncPcSliders();
      pick = { z: p.z, xy: points.xy[i], text: `test #${i} ${labelText(p.label)}` };
    } else {
      const xy = fromPixel(px, py);
      pick = { z: zFromCoords(coordsAt(xy)), xy, text: `(${xy[0].toFixed(2)}, ${xy[1].toFixed(2)})` };
    }
  } catch (e) {
    showError(e.message);
    return;
  }
  showDecoded(pick.z, pick.text);
  const name = picks.next;
  picks[name] = pick;
  picks.next = name === "A" ? "B" : "A";
  (name === "A" ? loadA : loadB)(decodeUrl(pick.z));
  $(`pick-${name.toLowerCase()}-label`).textContent = `${name}: ${pick.text}`;
  redraw();
  updateStrip();
  setAttrBase(pick.z);
}

function updateStrip() {
  if (!picks.A || !picks.B) return;
  const steps = $("steps").value;
  loadStrip(`/api/interpolate.png?a=${fmt(picks.A.z)}&b=${fmt(picks.B.z)}&steps=${steps}`);
}

function slider(parent, label, min, max, step, value, onInput) {
  const row = document.createElement("label");
  row.className = "slider";
  const name = document.createElement("span"), input = document.createElement("input"),
    out = document.createElement("span");
  name.textContent = label;
  Object.assign(input, { type: "range", min, max, step, value });
  out.textContent = (+value).toFixed(2);
  input.addEventListener("input", () => { out.textContent = (+input.value).toFixed(2); onInput(+input.value); });
  row.append(name, input, out);
  parent.append(row);
  return { input, out };
}

let pcInputs = [];
function buildPcSliders() {
  const d = info.latent_dim;
  if (d <= 2) return;
  $("pc-panel").hidden = false;
  pcs = new Array(d - 2).fill(0);
  pcInputs = pcs.map((_, k) => {
    const s = info.pca.std[k + 2] > 1e-6 ? info.pca.std[k + 2] : 1;
    return slider($("pc-sliders"), `PC${k + 3} (σ ${s.toFixed(2)})`, -3 * s, 3 * s, s / 50, 0, (value) => {
      pcs[k] = value;
      if (cursor) showDecoded(zFromCoords(coordsAt(cursor)), `PC${k + 3} = ${value.toFixed(2)}`);
    });
  });
  $("pc-reset").addEventListener("click", () => { pcs.fill(0); syncPcSliders(); });
}
function syncPcSliders() {
  pcInputs.forEach(({ input, out }, k) => { input.value = pcs[k]; out.textContent = (+pcs[k]).toFixed(2); });
}

function buildAttributes() {
  if (!info.is_attributes) return;
  const attrs = info.attributes;
  $("attr-panel").hidden = false;
  $("colour-by-row").hidden = false;
  attrs.names.forEach((name, a) => $("colour-by").append(new Option(`${name} (${attrs.counts[a]})`, a)));
  $("colour-by").addEventListener("change", drawBase);
  attrWeights = new Array(attrs.names.length).fill(0);
  const inputs = attrs.names.map((name, a) => {
    const s = slider($("attr-sliders"), name, -3, 3, 0.1, 0, (w) => { attrWeights[a] = w; updateAttr(); });
    if (!attrs.vectors[a]) {  // null: no test image (or every one) has it, so there is no direction
      s.input.disabled = true;
      s.input.title = "no vector: every test image, or none, has this attribute";
    }
    return s;
  });
  $("attr-reset").addEventListener("click", () => {
    attrWeights.fill(0);
    inputs.forEach(({ input, out }) => { input.value = 0; out.textContent = "0.00"; });
    updateAttr();
  });
}
function setAttrBase(z) {
  if (!info.is_attributes) return;
  attrBase = z;
  loadAttrBase(decodeUrl(z));
  updateAttr();
}
function updateAttr() {
  if (!attrBase) return;
  const z = attrBase.slice();
  attrWeights.forEach((w, a) => {
    const v = info.attributes.vectors[a];
    if (w && v) v.forEach((vj, j) => { z[j] += w * vj; });
  });
  loadAttrResult(decodeUrl(z));
}

function updateSamples() {
  const std = (+$("std").value).toFixed(2);
  $("std-value").textContent = std;
  loadSamples(`/api/samples.png?n=32&cols=8&std=${std}&seed=${sampleSeed}`);
}

async function main() {
  [decodeMain, loadA, loadB, loadStrip, loadSamples, loadAttrBase, loadAttrResult] =
    ["decoded", "pick-a", "pick-b", "strip", "samples", "attr-base", "attr-result"].map((id) => imageLoader($(id)));
  try {
    [info, points] = await Promise.all([getJSON("/api/info"), getJSON("/api/points")]);
  } catch (e) {
    showError("could not load the run: " + e.message);
    return;
  }
  $("run-info").textContent =
    `${info.name} · ${info.dataset} · ${info.kind} · z=${info.latent_dim} · ${info.count} test images`;
  $("projection").textContent = info.latent_dim > 2 ? "(PCA: PC1 × PC2)" : "(z1 × z2, PCA-rotated)";
  $("prior-name").textContent = info.prior;
  buildAttributes();
  buildPcSliders();
  computeBounds();
  drawBase();
  canvas().addEventListener("mousemove", onMove);
  canvas().addEventListener("click", onClick);
  $("steps").addEventListener("input", () => { $("steps-value").textContent = $("steps").value; updateStrip(); });
  $("std").addEventListener("input", updateSamples);
  $("resample").addEventListener("click", () => { sampleSeed += 1; updateSamples(); });
  showDecoded(info.pca.mean, "the mean of the test z");
  updateSamples();
  document.body.dataset.ready = "1";
}

main();
