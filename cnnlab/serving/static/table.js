"use strict";
// The runs table: every run under the served folder, from /api/runs (the rows of
// `cnnlab runs`), polled so that a run that starts, advances or ends shows without a reload.

const COLUMNS = [
  ["run", "run"], ["status", "status"], ["test_accuracy", "test accuracy (95 %)"], ["parameters", "parameters"],
  ["macs", "MACs"], ["epochs", "epochs"], ["train_seconds", "training s"], ["images_per_second", "images/s"],
  ["seed", "seed"], ["started", "started"],
];
const STATUSES = ["running", "evaluating", "completed", "interrupted", "stopped", "failed", "damaged"];
const NUMBERS = new Set(["test_accuracy", "parameters", "macs", "epochs", "train_seconds", "images_per_second", "seed"]);
let rows = [], sortKey = "started", descending = true;
const ticked = new Set();

const filter = document.getElementById("filter"), statusChoice = document.getElementById("status");
const compare = document.getElementById("compare");
for (const status of STATUSES) statusChoice.append(new Option(status, status));
filter.addEventListener("input", render);
statusChoice.addEventListener("change", render);
compare.addEventListener("click", () => {
  const query = new URLSearchParams([...ticked].map((run) => ["run", run]));
  location.href = `/compare?${query}`;
});

async function refresh() {
  const problem = document.getElementById("problem");
  try {
    const answer = await fetch("/api/runs", { cache: "no-store" });
    if (answer.status === 401) return location.reload();
    const said = await answer.json();
    rows = said.rows;
    problem.textContent = said.problem ?? "";
    render();
  } catch (error) {
    problem.textContent = `the server does not answer (${error.message}); trying again`;
  }
  setTimeout(refresh, rows.some((row) => row.status === "running" || row.status === "evaluating") ? 1000 : 2000);
}

function sortBy(key) {
  descending = key === sortKey ? !descending : NUMBERS.has(key) || key === "started";
  sortKey = key;
  render();
}

function shown() {
  const text = filter.value.trim().toLowerCase(), status = statusChoice.value;
  const picked = rows.filter((row) => row.run.toLowerCase().includes(text) && (!status || row.status === status));
  const present = picked.filter((row) => row[sortKey] !== null && row[sortKey] !== undefined);
  const missing = picked.filter((row) => row[sortKey] === null || row[sortKey] === undefined);
  present.sort((a, b) => (a[sortKey] < b[sortKey] ? -1 : a[sortKey] > b[sortKey] ? 1 : 0) * (descending ? -1 : 1));
  return present.concat(missing); // rows without the value last, either way
}

function render() {
  const table = document.getElementById("runs");
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (const [key, title] of COLUMNS) {
    const cell = document.createElement("th"), button = document.createElement("button");
    button.textContent = title + (key === sortKey ? (descending ? " ▼" : " ▲") : "");
    button.dataset.sort = key;
    button.addEventListener("click", () => sortBy(key));
    if (key === "run" || key === "status") cell.className = "left";
    cell.setAttribute("aria-sort", key === sortKey ? (descending ? "descending" : "ascending") : "none");
    cell.append(button);
    head.append(cell);
  }
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...shown().map(line));
  compare.disabled = ticked.size < 2;
  compare.textContent = ticked.size < 2 ? "tick two or more runs to compare" : `compare ${ticked.size} runs`;
}

function line(row) {
  const tr = document.createElement("tr");
  tr.dataset.run = row.run;
  tr.dataset.status = row.status;
  if (row.pareto) tr.classList.add("pareto");
  const tick = document.createElement("input");
  tick.type = "checkbox";
  tick.checked = ticked.has(row.run);
  tick.setAttribute("aria-label", `compare ${row.run}`);
  tick.addEventListener("change", () => { tick.checked ? ticked.add(row.run) : ticked.delete(row.run); render(); });
  tr.append(cellOf("tick", tick));
  const link = document.createElement(row.kind === "group" ? "span" : "a"); // a group has no page of its own
  if (row.kind === "run") link.href = `/runs/${encodeURIComponent(row.run)}`;
  const [name, stamp] = row.run.split("@");
  const unbroken = (text) => Object.assign(document.createElement("span"), { className: "whole", textContent: text });
  link.append(unbroken(name), document.createElement("wbr"), unbroken(`@${stamp}`)); // a phone breaks it there only
  const notes = row.kind === "group" ? [groupNote(row)] : row.group ? [memberNote(row)] : [];
  tr.classList.add(row.kind);
  const star = row.pareto ? [Object.assign(document.createElement("span"), { className: "star", textContent: "★" })] : [];
  tr.append(cellOf("run", ...star, link, ...notes));
  tr.append(cellOf("status", ...statusOf(row)));
  tr.append(cellOf("test_accuracy", accuracyOf(row)));
  tr.append(cellOf("parameters", whole(row.parameters)), cellOf("macs", whole(row.macs)), cellOf("epochs", whole(row.epochs)));
  tr.append(cellOf("train_seconds", row.train_seconds == null ? "" : row.train_seconds.toFixed(2)));
  tr.append(cellOf("images_per_second", whole(row.images_per_second && Math.round(row.images_per_second))));
  tr.append(cellOf("seed", whole(row.seed)), startedCell(row.started));
  return tr;
}

function statusOf(row) {
  const badge = document.createElement("span");
  badge.className = `status s-${row.status}`;
  badge.textContent = row.status;
  if (row.status !== "running" || typeof row.epoch !== "string") return [badge];
  const [now, total] = row.epoch.split("/").map(Number);
  const bar = document.createElement("progress");
  bar.max = total; bar.value = row.epochs ?? 0;
  const epoch = document.createElement("span");
  epoch.className = "epoch";
  epoch.textContent = ` epoch ${now}/${total} `;
  return [badge, epoch, bar];
}

function accuracyOf(row) {
  if (typeof row.test_accuracy !== "number") return "";
  const spread = row.sd == null ? "" : ` ± ${row.sd.toFixed(4)}`;
  const interval = row.low == null ? "" : ` (${row.low.toFixed(4)}–${row.high.toFixed(4)})`;
  return `${row.test_accuracy.toFixed(4)}${spread}${interval}`;
}

function groupNote(row) {
  return Object.assign(document.createElement("div"), {
    className: "note",
    textContent: `group of ${row.seeds.length} seeds (${row.seeds.join(", ")}): mean ± sd`,
  });
}

function memberNote(row) {
  return Object.assign(document.createElement("div"), { className: "note", textContent: `in group ${row.group}` });
}

function startedCell(started) {
  const cell = cellOf("started", (started ?? "").slice(5, 16).replace("T", " ")); // month-day hour:minute
  cell.title = started ?? "";
  return cell;
}

function whole(value) {
  return typeof value === "number" ? value.toLocaleString("en") : "";
}

function cellOf(column, ...content) {
  const cell = document.createElement("td");
  cell.dataset.column = column;
  cell.append(...content);
  return cell;
}

refresh();
