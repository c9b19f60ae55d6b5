// The fleet page: summary cards, one matrix row per symbol, the fleet's events log.

import { age, el, eventLine, num, pill, signClass, signed, usageBar } from "./fmt.js";

const EVENTS_KEPT = 300;

export class FleetPage {
  constructor() {
    this.tbody = document.querySelector("#matrix tbody");
    this.rows = new Map();
    this.events = document.getElementById("fleet-events");
    this.decimals = {}; // symbol -> price decimals, from the newest status
  }

  render(view) {
    for (const e of view.symbols) this.decimals[e.symbol] = e.extras ? e.extras.price_decimals : null;
    this.renderTop(view);
    this.renderSummary(view);
    this.renderMatrix(view.symbols);
  }

  renderTop(view) {
    const fleet = view.fleet;
    pill(document.getElementById("fleet-state"), fleet.state);
    document.getElementById("fleet-reason").textContent = fleet.reason ? `— ${fleet.reason}` : "";
    const unhealthy = fleet.unhealthy || [];
    document.getElementById("fleet-health").textContent =
      `${fleet.symbols - unhealthy.length}/${fleet.symbols} healthy · ${(fleet.workers || []).length} workers`;
  }

  renderSummary(view) {
    const box = document.getElementById("summary");
    const cards = [];
    for (const [quote, t] of Object.entries(view.summary.totals)) {
      const dp = 2;
      cards.push(card(`Exposure (${quote})`, num(t.exposure, dp)));
      cards.push(card(`Realized (${quote})`, signed(t.realized_pnl, dp), signClass(t.realized_pnl)));
      cards.push(card(`Unrealized (${quote})`, signed(t.unrealized_pnl, dp), signClass(t.unrealized_pnl)));
      cards.push(card(`Fees (${quote})`, num(t.fees, dp)));
    }
    cards.push(card("Fills today", String(view.summary.fills_today)));
    const limits = el("div", { class: "card wide" }, el("div", { class: "k", text: "Closest to a limit" }));
    const closest = view.summary.closest_limits.filter((u) => u.usage >= 0.01);
    if (!closest.length) limits.append(el("div", { class: "muted", text: "no limit in use" }));
    for (const u of closest) {
      limits.append(el("div", { class: "limit-row" },
        el("span", { class: "name", text: `${u.symbol} ${u.limit.replace("_", " ")}` }),
        usageBar(u.usage), el("span", { class: "num", text: `${Math.round(u.usage * 100)}%` })));
    }
    cards.push(limits);
    cards.push(riskCard(view.summary.risk));
    for (const [name, venue] of Object.entries(view.venues || {})) cards.push(venueCard(name, venue));
    box.replaceChildren(...cards);
  }

  renderMatrix(entries) {
    const seen = new Set();
    document.getElementById("fleet-count").textContent = `${entries.length} symbols`;
    entries.forEach((entry, index) => {
      seen.add(entry.symbol);
      let row = this.rows.get(entry.symbol);
      if (!row) {
        row = this.newRow(entry.symbol);
        this.rows.set(entry.symbol, row);
      }
      if (this.tbody.children[index] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[index] || null);
      this.fill(row, entry);
    });
    for (const [symbol, row] of this.rows) {
      if (!seen.has(symbol)) { row.tr.remove(); this.rows.delete(symbol); }
    }
  }

  newRow(symbol) {
    const tr = el("tr", { class: "clickable", "data-symbol": symbol });
    tr.addEventListener("click", () => { location.hash = `#/symbol/${symbol}`; });
    const names = ["symbol", "state", "price", "age", "position", "exposure", "realized",
      "unrealized", "fees", "fills", "orders", "queue", "t2o", "error"];
    const cells = {};
    for (const name of names) {
      const numeric = !["symbol", "state", "position", "error"].includes(name);
      cells[name] = el("td", { class: numeric ? "num" : "", "data-col": name });
      tr.append(cells[name]);
    }
    return { tr, cells, seen: null };
  }

  fill(row, e) {
    const x = e.extras || {};
    const pd = x.price_decimals ?? 2;
    const qd = x.qty_decimals ?? 4;
    const p = e.position;
    const c = row.cells;
    c.symbol.replaceChildren(el("span", { class: "sym", text: e.symbol }),
      el("span", { class: "muted venue", text: e.exchange && e.exchange !== "sim" ? ` ${e.exchange}` : "" }),
      el("span", { class: "muted", text: e.healthy ? "" : " ⚠", title: (e.problems || []).join("; ") }));
    const state = el("span");
    pill(state, e.state || "MISSING");
    c.state.replaceChildren(state);
    c.price.textContent = num(e.last_price, pd);
    c.age.textContent = age(e.last_price_age_ms);
    c.age.className = "num" + ((x.limits && x.limits.price_age > 1) ? " stale" : "");
    const max = e.risk.max_position;
    c.position.replaceChildren(usageBar(x.limits ? x.limits.position : null),
      el("span", { class: "num " + signClass(p.qty), text: num(p.qty, qd) }),
      el("span", { class: "muted", text: max ? ` / ${num(max, qd)}` : "" }));
    c.exposure.textContent = num(x.exposure, pd);
    setSigned(c.realized, p.realized_pnl, pd);
    setSigned(c.unrealized, p.unrealized_pnl, pd);
    c.fees.textContent = num(p.fees, pd);
    // A fill counted from the feed stays shown until the ledger has it too (or 10 s passed).
    const server = x.fills_today ?? 0;
    const fresh = row.seen && Date.now() - row.seen.at < 10_000 ? row.seen.count : 0;
    c.fills.textContent = String(Math.max(server, fresh));
    const oo = e.open_orders;
    c.orders.textContent = `${oo.buy}/${oo.sell}${oo.pending ? ` +${oo.pending}` : ""}`;
    c.orders.title = "buy / sell resting (+ sent, not acknowledged)";
    const hosts = Object.keys(e.consumers_by_host || {});
    const lockHost = (e.lock_holder || "").split(":")[0];
    c.queue.textContent = `${e.queue_depth ?? "–"} · ${hosts.length}h`;
    c.queue.title = "queue depth · hosts consuming it\n" + (hosts.length
      ? hosts.map((h) => `${h}${h === lockHost ? " (holds the lock)" : ""}: ` +
          e.consumers_by_host[h].join(", ")).join("\n")
      : "consumers: " + (e.consumers ? "none" : "unknown"));
    c.t2o.textContent = x.tick_to_order_p99_ms == null ? "–" : `${x.tick_to_order_p99_ms} ms`;
    const error = e.risk.last_error || "";
    c.error.replaceChildren(el("span", { class: "err", text: error, title: error }));
  }

  // A fill seen on the feed: count it at once (the next status confirms it) and flash the row.
  onFill(symbol) {
    const row = this.rows.get(symbol);
    if (!row) return;
    const count = Number(row.cells.fills.textContent || 0) + 1;
    row.seen = { count, at: Date.now() };
    row.cells.fills.textContent = String(count);
    row.tr.classList.remove("flash");
    void row.tr.offsetWidth;
    row.tr.classList.add("flash");
  }

  addEvents(messages) {
    for (const message of messages) {
      this.events.prepend(eventLine(message, this.decimals[message.data.symbol] ?? null));
    }
    while (this.events.children.length > EVENTS_KEPT) this.events.lastChild.remove();
  }
}

function card(label, value, cls = "") {
  return el("div", { class: "card" }, el("div", { class: "k", text: label }),
    el("div", { class: "v " + cls, text: value }));
}

function setSigned(cell, value, dp) {
  cell.textContent = signed(value, dp);
  cell.className = "num " + signClass(value, dp);
}

// The fleet risk task's figures against the limits set (docs/risk.md); empty when none is set.
const RISK_FIGURES = [
  ["exposure", "max_exposure_quote", "fleet exposure"],
  ["top_symbol_exposure", "max_symbol_exposure_quote", "largest symbol exposure"],
  ["drawdown_quote", "max_drawdown_quote", "drawdown"],
  ["drawdown_pct", "max_drawdown_pct", "drawdown %"],
  ["day_loss", "daily_loss_limit_quote", "loss today (UTC)"],
  ["latency_p95_ms", "max_connector_latency_ms", "connector p95 ms"],
];

// A real venue's fleet-wide rate budget: how full each bucket is, and a pause in force.
function venueCard(name, venue) {
  const box = el("div", { class: "card wide venue-card", "data-venue": name },
    el("div", { class: "k", text: `Venue ${name} — rate budget` }));
  for (const scope of venue.scopes || []) {
    const used = scope.capacity > 0 ? 1 - Math.max(0, scope.left) / scope.capacity : 0;
    box.append(el("div", { class: "limit-row" },
      el("span", { class: "name", text: `${scope.name.replace("_", " ")} (limit ${scope.limit}/${scope.window_ms / 1000}s)` }),
      usageBar(Math.min(1, Math.max(0, used))),
      el("span", { class: "num", text: `${Math.round(used * 100)}%` })));
  }
  if (venue.paused_ms > 0) {
    box.append(el("div", { class: "warn venue-paused",
      text: `PAUSED ${(venue.paused_ms / 1000).toFixed(1)}s more: ${venue.pause_reason || ""}` }));
  }
  const stats = venue.stats || {};
  box.append(el("div", { class: "muted", text: `waits ${stats.waits || 0} · refused ${stats.denied || 0} · pauses ${stats.pauses || 0}` }));
  return box;
}

function riskCard(risk) {
  const box = el("div", { class: "card wide", id: "risk-card" },
    el("div", { class: "k", text: `Fleet risk${risk && risk.state ? ` — ${risk.state}` : ""}` }));
  const figures = (risk && risk.figures) || {};
  const limits = (risk && risk.limits) || {};
  let shown = 0;
  for (const [figure, limit, label] of RISK_FIGURES) {
    if (limits[limit] == null || figures[figure] == null) continue;
    const usage = Number(figures[figure]) / Number(limits[limit]);
    box.append(el("div", { class: "limit-row risk-row", "data-limit": limit },
      el("span", { class: "name", text: label }),
      usageBar(Math.max(0, usage)),
      el("span", { class: "num", text: `${num(figures[figure], figure.endsWith("_ms") ? 0 : 2)} / ${limits[limit]}` })));
    shown += 1;
  }
  if (!shown) box.append(el("div", { class: "muted", text: risk && risk.updated_ms ? "no fleet limit set" : "risk task not run yet" }));
  for (const breach of (risk && risk.breaches) || []) {
    box.append(el("div", { class: "warn", text: typeof breach === "string" ? breach : JSON.stringify(breach) }));
  }
  return box;
}
