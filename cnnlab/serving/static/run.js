"use strict";
// A run's page: its status, learning curves and history, polled while it trains (the page never
// reloads and only reads the run's files); its report once evaluated, and "Try it".

const ident = document.body.dataset.run;
const LIVE = new Set(["running", "evaluating"]);
let reportShown = false, trying = false;

async function refresh() {
  let state;
  try {
    const answer = await fetch(`/api/runs/${encodeURIComponent(ident)}`, { cache: "no-store" });
    if (answer.status === 401) return location.reload(); // the login form
    state = await answer.json();
  } catch (error) {
    return setTimeout(refresh, 3000); // the server restarting: try again
  }
  showState(state.row);
  showHistory(state.history);
  if (state.report && !reportShown) await showReport();
  if (state.row.status === "completed" && !trying) await offerTrying();
  setTimeout(refresh, LIVE.has(state.row.status) ? 1000 : 5000);
}

function showState(row) {
  const status = document.getElementById("status");
  status.textContent = row.status;
  status.className = `status s-${row.status}`;
  const [done, total] = String(row.epoch ?? "").split("/").map(Number);
  const progress = document.getElementById("progress");
  progress.hidden = !LIVE.has(row.status) || !total;
  if (total) { progress.max = total; progress.value = row.epochs ?? 0; }
  document.getElementById("epoch").textContent = row.status === "running" && total
    ? `epoch ${done} of ${total}` : row.failure ? row.failure : row.note ?? "";
}

function showHistory(history) {
  const table = document.getElementById("history");
  if (!history.length) return;
  const columns = Object.keys(history[0]);
  table.tHead.replaceChildren(rowOf(columns, "th"));
  table.tBodies[0].replaceChildren(...history.map((epoch) => rowOf(columns.map((key) => number(epoch[key])), "td")));
  const curves = document.getElementById("curves");
  curves.replaceChildren(...["loss", "accuracy"].filter((key) => key in history[0]).map((key) => chart(history, key)));
}

function rowOf(cells, tag) {
  const row = document.createElement("tr");
  for (const text of cells) {
    const cell = document.createElement(tag);
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

function number(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : String(value ?? "");
}

// One metric per epoch, training and validation, as an SVG line chart.
function chart(history, key) {
  const W = 420, H = 220, left = 48, bottom = 30, top = 24, right = 12;
  const series = [[key, "#1f77b4"], [`val_${key}`, "#ff7f0e"]].filter(([name]) => name in history[0]);
  const values = series.flatMap(([name]) => history.map((epoch) => epoch[name])).filter(Number.isFinite);
  let low = Math.min(...values), high = Math.max(...values);
  if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
  const epochs = history.map((epoch) => epoch.epoch);
  const first = Math.min(...epochs), last = Math.max(first + 1, Math.max(...epochs));
  const x = (epoch) => left + ((epoch - first) / (last - first)) * (W - left - right);
  const y = (value) => top + (1 - (value - low) / (high - low)) * (H - top - bottom);
  const svg = element("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${key} per epoch`, class: "chart" });
  svg.append(element("text", { x: left, y: 16, class: "title" }, key));
  for (const value of [low, high]) svg.append(element("text", { x: left - 4, y: y(value) + 4, class: "tick end" }, value.toFixed(3)));
  svg.append(element("text", { x: W - right, y: H - 6, class: "tick end" }, `epoch ${last}`));
  svg.append(element("text", { x: left, y: H - 6, class: "tick" }, `epoch ${first}`));
  svg.append(element("rect", { x: left, y: top, width: W - left - right, height: H - top - bottom, class: "frame" }));
  series.forEach(([name, colour], index) => {
    const points = history.filter((epoch) => Number.isFinite(epoch[name])).map((epoch) => `${x(epoch.epoch)},${y(epoch[name])}`);
    svg.append(element("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    for (const point of points) {
      const [cx, cy] = point.split(",");
      svg.append(element("circle", { cx, cy, r: 3, fill: colour }));
    }
    const place = W - right - 110 * (series.length - index - 1); // the key on the title's line, at the right
    svg.append(element("text", { x: place, y: 16, fill: colour, class: "tick end" }, `— ${name}`));
  });
  return svg;
}

function element(tag, attributes, text) {
  const made = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text !== undefined) made.textContent = text;
  return made;
}

async function showReport() {
  const answer = await fetch(`/runs/${encodeURIComponent(ident)}/report`, { cache: "no-store" });
  if (!answer.ok) return;
  document.getElementById("report").innerHTML = await answer.text(); // our own report.html
  document.getElementById("curves-box").hidden = true; // the report has them, drawn at the end
  reportShown = true;
}

async function offerTrying() {
  trying = true;
  const answer = await fetch(`/v1/models/${encodeURIComponent(ident)}/metadata`);
  const said = await answer.json();
  const section = document.getElementById("try");
  section.hidden = false;
  if (!answer.ok) {
    document.getElementById("try-problem").textContent = `${said.error} (serve this run to try it)`;
    return;
  }
  startTrying(ident, said.metadata);
}

refresh();
