// mixbridge web surface: the page is drawn from the OSCQuery tree (/tree) and kept in
// sync over the websocket (/ws); every control sends native values, the server
// validates them and echoes every change from any source to every open page.
"use strict";

const STEPS = 1000; // fader resolution
const controls = new Map(); // address -> {update(value)}
const grOutputs = new Map(); // "chain/slot" -> <output>
let ws = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function short(v) {
  return String(Number(v.toPrecision(4)));
}

function fmt(v) {
  const a = Math.abs(v);
  return v.toFixed(a >= 10000 ? 0 : a >= 100 ? 1 : 2);
}

// 0..1 fader position <-> native value, as core.params.Param maps it
function toNorm(leaf, v) {
  const { MIN: lo, MAX: hi } = leaf.RANGE[0];
  if (hi === lo) return 0;
  if (leaf.SCALE === "log") return Math.log(v / lo) / Math.log(hi / lo);
  return (v - lo) / (hi - lo);
}

function fromNorm(leaf, x) {
  const { MIN: lo, MAX: hi } = leaf.RANGE[0];
  const v = leaf.SCALE === "log" ? lo * Math.pow(hi / lo, x) : lo + x * (hi - lo);
  return Math.min(hi, Math.max(lo, v)); // float error must not step outside the declared range
}

function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function set(address, value) {
  send({ op: "set", address, value });
}

function say(text, error = false) {
  const m = $("message");
  m.textContent = text;
  m.className = error ? "error" : "";
}

function fader(name, leaf, label) {
  const address = leaf.FULL_PATH;
  const unit = leaf.UNIT[0] || "";
  const { MIN: lo, MAX: hi } = leaf.RANGE[0];
  const slider = el("input", { type: "range", min: 0, max: STEPS, step: 1, "data-address": address,
                               "data-scale": leaf.SCALE, title: leaf.DESCRIPTION || name });
  const box = el("input", { type: "number", step: "any", min: lo, max: hi, "data-value": address });
  let dragging = false;
  const show = (v, moveThumb) => {
    if (moveThumb) slider.value = Math.round(STEPS * toNorm(leaf, v));
    if (document.activeElement !== box) box.value = fmt(v);
  };
  slider.addEventListener("pointerdown", () => { dragging = true; });
  slider.addEventListener("pointerup", () => { dragging = false; });
  slider.addEventListener("input", () => {
    const v = fromNorm(leaf, slider.value / STEPS);
    show(v, false);
    set(address, v);
  });
  box.addEventListener("change", () => {
    const v = Number(box.value);
    if (box.value === "" || !Number.isFinite(v)) return say(`${name}: not a number`, true);
    set(address, v); // out of range comes back as an error naming the range
    box.blur();
  });
  controls.set(address, { update: (v) => show(v, !dragging) });
  show(leaf.VALUE[0], true);
  return el("div", { class: "param" },
    el("label", { title: leaf.DESCRIPTION || name }, label || name), slider, box, el("span", { class: "unit" }, unit),
    el("div", { class: "ends" }, el("span", {}, `${short(lo)} ${unit}`),
       el("span", {}, leaf.SCALE === "log" ? "log" : ""), el("span", {}, `${short(hi)} ${unit}`)));
}

function dropdown(name, leaf) {
  const address = leaf.FULL_PATH;
  const select = el("select", { "data-address": address, title: leaf.DESCRIPTION || name },
    ...leaf.CHOICES.map((c, i) => el("option", { value: i }, c)));
  select.addEventListener("change", () => set(address, Number(select.value)));
  controls.set(address, { update: (v) => { select.value = String(Math.round(v)); } });
  select.value = String(leaf.VALUE[0]);
  return el("div", { class: "param" }, el("label", { title: leaf.DESCRIPTION || name }, name), select);
}

function toggle(name, leaf, card) {
  const address = leaf.FULL_PATH;
  const box = el("input", { type: "checkbox", "data-address": address });
  const update = (v) => { box.checked = v >= 0.5; card.classList.toggle("bypassed", box.checked); };
  box.addEventListener("change", () => set(address, box.checked ? 1 : 0));
  controls.set(address, { update });
  update(leaf.VALUE[0]);
  return el("label", { class: "toggle", title: leaf.DESCRIPTION || name }, box, ` ${name}`);
}

function slotCard(chain, label, node) {
  const card = el("section", { class: "slot", "data-slot": `${chain}/${label}` });
  const gr = el("output", { class: "gr", title: "gain reduction" });
  gr.hidden = true; // shown once the meters say this slot reports gain reduction
  const head = el("div", { class: "head" }, el("h3", {}, label), gr);
  const body = [];
  for (const [name, leaf] of Object.entries(node.CONTENTS)) {
    if (leaf.SCALE === "toggle") head.append(toggle(name, leaf, card));
    else if (name === "mix") body.unshift(fader(name, leaf, "wet/dry"));
    else if (leaf.SCALE === "choice") body.push(dropdown(name, leaf));
    else body.push(fader(name, leaf));
  }
  card.append(head, ...body);
  grOutputs.set(`${chain}/${label}`, gr);
  return card;
}

function build(tree) {
  const main = $("chains");
  const chains = tree.CONTENTS.mixbridge ? tree.CONTENTS.mixbridge.CONTENTS : {};
  for (const [chain, cnode] of Object.entries(chains)) {
    const slots = el("div", { class: "slots" });
    for (const [label, snode] of Object.entries(cnode.CONTENTS)) {
      slots.append(slotCard(chain, label, snode));
    }
    main.append(el("h2", {}, chain), slots);
  }
}

function meter(bar, out, db) {
  if (db === null || db === undefined) {
    bar.style.width = "0";
    out.textContent = "n/a";
    return;
  }
  bar.style.width = `${Math.max(0, Math.min(100, (100 * (db + 60)) / 60))}%`;
  out.textContent = `${db.toFixed(1)} dB`;
}

function showMeters(m) {
  meter($("meter-in"), $("in-db"), m.input_db);
  meter($("meter-out"), $("out-db"), m.output_db);
  $("load").textContent = m.load === null ? "n/a" : `${(100 * m.load).toFixed(1)} %`;
  $("xruns").textContent = m.xruns === null ? "n/a" : String(m.xruns);
  $("latency").textContent = m.latency_ms === null ? "n/a" : `${m.latency_ms.toFixed(1)} ms`;
  for (const [slot, gr] of Object.entries(m.gain_reduction_db)) {
    const out = grOutputs.get(slot);
    if (!out) continue;
    out.hidden = false;
    out.textContent = gr === null ? "GR n/a" : `GR ${gr.toFixed(1)} dB`;
  }
}

function showPresets(names) {
  const list = $("preset-list");
  const keep = list.value;
  list.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(keep)) list.value = keep;
}

function receive(msg) {
  if (msg.op === "values") {
    for (const [address, v] of Object.entries(msg.values)) {
      const c = controls.get(address);
      if (c) c.update(v);
    }
  } else if (msg.op === "meters") showMeters(msg);
  else if (msg.op === "presets") showPresets(msg.names);
  else if (msg.op === "error") say(`${msg.request}: ${msg.error}`, true);
  else if (msg.op === "ok") {
    const what = { preset_load: `loaded ${msg.name}`, preset_save: `saved ${msg.name}`,
                   rate: `rated ${msg.overall}/5: stored` }[msg.request];
    say(what || `${msg.request}: ok`);
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${proto}//${location.host}/ws`);
  ws.addEventListener("open", () => {
    $("connection").textContent = "connected";
    $("connection").className = "good";
  });
  ws.addEventListener("message", (e) => receive(JSON.parse(e.data)));
  ws.addEventListener("close", (e) => {
    $("connection").textContent = `disconnected${e.reason ? ` (${e.reason})` : ""}, retrying`;
    $("connection").className = "bad";
    setTimeout(connect, 1000);
  });
}

function wire() {
  $("preset-load").addEventListener("click", () => {
    if ($("preset-list").value) send({ op: "preset_load", name: $("preset-list").value });
  });
  $("preset-save").addEventListener("click", () => send({ op: "preset_save", name: $("preset-name").value }));
  for (const b of document.querySelectorAll("[data-rate]")) {
    b.addEventListener("click", () => send({ op: "rate", overall: Number(b.dataset.rate) }));
  }
}

async function main() {
  wire();
  const response = await fetch("tree");
  build(await response.json());
  connect();
}

main().catch((e) => say(`cannot build the page: ${e}`, true));
