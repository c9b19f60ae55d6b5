// The symbol page: candles with the grid's resting orders as price lines and fills as markers,
// position and equity curves, the order ladder, fills and the symbol's events.

import { age, clock, el, eventLine, getJSON, num, pill, signClass, signed } from "./fmt.js";

const LWC = window.LightweightCharts;
const COLORS = { buy: "#26a69a", sell: "#ef5350", closing: "#f0b429", fill: "#4c9aff", text: "#d6dde6" };
const INTERVALS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const EVENTS_KEPT = 200;

function chartOptions(height) {
  return {
    height,
    layout: { background: { color: "#161b22" }, textColor: "#7d8794", fontSize: 11 },
    grid: { vertLines: { color: "#1d232c" }, horzLines: { color: "#1d232c" } },
    rightPriceScale: { borderColor: "#262d37" },
    timeScale: { borderColor: "#262d37", timeVisible: true, secondsVisible: true },
    crosshair: { mode: LWC.CrosshairMode.Normal },
  };
}

function intervalMs(text) {
  const match = /^(\d+)([smhd])$/.exec(text || "");
  return match ? Number(match[1]) * INTERVALS[match[2]] : 60_000;
}

// Line data must have strictly increasing times: keep the last point of each second.
function lineData(points, field) {
  const bySecond = new Map();
  for (const p of points) bySecond.set(Math.floor(p.ts_ms / 1000), Number(p[field]));
  return [...bySecond].map(([time, value]) => ({ time, value }));
}

export class SymbolPage {
  constructor() {
    this.symbol = null;
    this.charts = null;
    this.priceLines = [];
    this.markers = new Map(); // trade id -> marker
    this.lastBar = null;
    this.barCount = 0;
    this.reloadTimer = null;
    this.page = null;
  }

  async open(symbol) {
    if (this.symbol !== symbol) {
      this.symbol = symbol;
      this.markers.clear();
      this.lastBar = null;
      this.destroyCharts();
      document.getElementById("symbol-events").replaceChildren();
    }
    await this.load();
  }

  close() {
    this.symbol = null;
    this.destroyCharts();
  }

  destroyCharts() {
    if (!this.charts) return;
    for (const chart of [this.charts.price, this.charts.position, this.charts.equity]) chart.remove();
    this.charts = null;
    this.priceLines = [];
  }

  ensureCharts(pd, tick) {
    if (this.charts) return;
    const format = { type: "price", precision: pd, minMove: Number(tick) || 10 ** -pd };
    const price = LWC.createChart(document.getElementById("price-chart"), chartOptions(420));
    const candles = price.addCandlestickSeries({
      upColor: COLORS.buy, downColor: COLORS.sell, borderVisible: false,
      wickUpColor: COLORS.buy, wickDownColor: COLORS.sell, priceFormat: format,
    });
    const position = LWC.createChart(document.getElementById("pos-chart"), chartOptions(180));
    const positionLine = position.addLineSeries({
      color: "#b38cff", lineWidth: 2, lineType: 1,
      priceFormat: { type: "price", precision: this.qd, minMove: 10 ** -this.qd },
    });
    const equity = LWC.createChart(document.getElementById("eq-chart"), chartOptions(180));
    const equityArea = equity.addAreaSeries({
      lineColor: COLORS.fill, topColor: "rgba(76,154,255,.35)", bottomColor: "rgba(76,154,255,0)",
      priceFormat: format,
    });
    this.charts = { price, candles, position, positionLine, equity, equityArea, fitted: false };
  }

  async load() {
    const symbol = this.symbol;
    const page = await getJSON(`/api/symbols/${symbol}`);
    if (symbol !== this.symbol) return;
    this.page = page;
    const x = page.status.extras;
    const rules = page.config.rules || {};
    this.pd = x.price_decimals;
    this.qd = x.qty_decimals;
    this.interval = intervalMs(page.config.risk && page.config.risk.kline_interval);
    if (page.candles.length > 1) {
      const gaps = page.candles.slice(1).map((c, i) => c.open_ms - page.candles[i].open_ms);
      this.interval = Math.min(this.interval, ...gaps.filter((g) => g > 0));
    }
    this.ensureCharts(this.pd, rules.tick_size);
    this.renderHead(page.status);
    this.setCandles(page.candles);
    this.setOrders(page.orders);
    for (const f of page.fills) this.addMarker(f.trade_id, f.side, f.price, f.qty, f.ts_ms, f.closing);
    this.drawMarkers();
    this.renderFills(page.fills);
    this.charts.positionLine.setData(lineData(page.curves, "position"));
    this.charts.equityArea.setData(lineData(page.curves, "equity"));
    // The curves are summaries: always show them whole. The price chart is fitted once, then
    // follows the newest bar wherever the user scrolled it (a few bars stay bar-sized).
    for (const chart of [this.charts.position, this.charts.equity]) chart.timeScale().fitContent();
    if (!this.charts.fitted) {
      this.charts.price.timeScale().applyOptions({ barSpacing: 10 });
      if (page.candles.length >= 60) this.charts.price.timeScale().fitContent();
      this.charts.fitted = true;
    }
    const log = document.getElementById("symbol-events");
    log.replaceChildren(...page.events.slice().reverse().map((m) => eventLine(m, this.pd)));
  }

  renderHead(entry) {
    const x = entry.extras;
    const p = entry.position;
    document.getElementById("sym-name").textContent = entry.symbol;
    pill(document.getElementById("sym-state"), entry.state || "MISSING");
    document.getElementById("sym-price").textContent = num(entry.last_price, x.price_decimals);
    document.getElementById("sym-age").textContent = `data age ${age(entry.last_price_age_ms)}`;
    document.getElementById("sym-problems").textContent = (entry.problems || []).join("; ");
    const pd = x.price_decimals;
    const qd = x.qty_decimals;
    const max = entry.risk.max_position;
    const cards = [
      ["Position", num(p.qty, qd) + (max ? ` / ${num(max, qd)}` : ""), signClass(p.qty)],
      ["Avg entry", num(p.avg_cost, pd), ""],
      ["Exposure", num(x.exposure, pd), ""],
      ["Realized", signed(p.realized_pnl, pd), signClass(p.realized_pnl)],
      ["Unrealized", signed(p.unrealized_pnl, pd), signClass(p.unrealized_pnl)],
      ["Fees", num(p.fees, pd), ""],
      ["Volume", num(p.volume, pd), ""],
      ["Fills today", String(x.fills_today), ""],
      ["Orders", `${entry.open_orders.buy} buy / ${entry.open_orders.sell} sell`, ""],
      ["Queue", `${entry.queue_depth ?? "–"} · ${entry.consumer_count ?? "?"} consumer`, ""],
      ["Hosts (★ holds the lock)", hostsText(entry), ""],
      ["T→O p99 (last 5 min)", x.tick_to_order_p99_ms == null ? "–" : `${x.tick_to_order_p99_ms} ms`, ""],
    ];
    document.getElementById("sym-cards").replaceChildren(...cards.map(([k, v, cls]) =>
      el("div", { class: "card" }, el("div", { class: "k", text: k }), el("div", { class: "v " + cls, text: v }))));
  }

  setCandles(candles) {
    const bars = candles.map((c) => ({
      time: Math.floor(c.open_ms / 1000), open: +c.open, high: +c.high, low: +c.low, close: +c.close,
    }));
    this.charts.candles.setData(bars);
    this.lastBar = bars.length ? { ...bars[bars.length - 1] } : null;
    this.barCount = bars.length;
  }

  // A live price: extend the newest bar, or open a new one when its interval is over.
  onTick(data) {
    if (!this.charts || data.symbol !== this.symbol) return;
    const price = Number(data.price);
    document.getElementById("sym-price").textContent = num(data.price, this.pd);
    if (data.candle) {
      const c = data.candle;
      const time = Math.floor(c.open_ms / 1000);
      if (!this.lastBar || time >= this.lastBar.time) {
        this.lastBar = { time, open: +c.open, high: +c.high, low: +c.low, close: +c.close };
      }
    }
    const start = Math.floor(Math.floor(data.ts_event_ms / this.interval) * this.interval / 1000);
    if (!this.lastBar || start > this.lastBar.time) {
      this.lastBar = { time: start, open: price, high: price, low: price, close: price };
      this.barCount += 1;
    } else if (start === this.lastBar.time || !data.candle) {
      this.lastBar.high = Math.max(this.lastBar.high, price);
      this.lastBar.low = Math.min(this.lastBar.low, price);
      this.lastBar.close = price;
    }
    this.charts.candles.update({ ...this.lastBar });
  }

  setOrders(orders) {
    for (const line of this.priceLines) this.charts.candles.removePriceLine(line.handle);
    this.priceLines = orders.map((o) => {
      const side = (o.side || "").toLowerCase();
      const color = o.closing ? COLORS.closing : COLORS[side] || COLORS.text;
      const title = `${o.closing ? "close " : ""}${side} ${num(o.qty, this.qd)}${o.status === "PENDING" ? " (sent)" : ""}`;
      const handle = this.charts.candles.createPriceLine({
        price: Number(o.price), color, lineWidth: 1, axisLabelVisible: true, title,
        lineStyle: o.closing ? LWC.LineStyle.Solid : o.status === "PENDING" ? LWC.LineStyle.Dotted : LWC.LineStyle.Dashed,
      });
      return { handle, price: o.price, side: o.side, closing: o.closing, status: o.status };
    });
    document.getElementById("ladder-count").textContent = `${orders.length} orders`;
    document.querySelector("#ladder tbody").replaceChildren(...orders.map((o) => el("tr", {},
      el("td", { class: (o.side === "BUY" ? "pos" : "neg"), text: o.side }),
      el("td", { class: "num", text: num(o.price, this.pd) }),
      el("td", { class: "num", text: num(o.qty, this.qd) }),
      el("td", { text: o.closing ? "closing" : "entry" }),
      el("td", { class: "muted", text: o.status === "LOCKED" ? "resting" : "sent" }))));
  }

  addMarker(tradeId, side, price, qty, tsMs, closing) {
    if (this.markers.has(tradeId)) return false;
    const time = Math.floor(Math.floor(tsMs / this.interval) * this.interval / 1000);
    const buy = side === "BUY";
    this.markers.set(tradeId, {
      time, position: buy ? "belowBar" : "aboveBar", shape: buy ? "arrowUp" : "arrowDown",
      color: closing ? COLORS.closing : buy ? COLORS.buy : COLORS.sell,
      size: 1, id: tradeId,
    });
    return true;
  }

  drawMarkers() {
    const list = [...this.markers.values()].sort((a, b) => a.time - b.time);
    this.charts.candles.setMarkers(list);
  }

  renderFills(fills) {
    document.getElementById("fills-count").textContent = `${fills.length} shown`;
    document.querySelector("#fills tbody").replaceChildren(...fills.slice().reverse().slice(0, 200).map((f) => el("tr", {},
      el("td", { class: "muted", text: clock(f.ts_ms) }),
      el("td", { class: f.side === "BUY" ? "pos" : "neg", text: f.side }),
      el("td", { class: "num", text: num(f.price, this.pd) }),
      el("td", { class: "num", text: num(f.qty, this.qd) }),
      el("td", { class: "num", text: num(f.fee, this.pd) }),
      el("td", { text: f.closing ? "closing" : "entry" }))));
  }

  // An event of this symbol from the feed: draw a fill at once, reload the rest soon.
  onEvent(message) {
    if (!this.charts || message.data.symbol !== this.symbol) return;
    const log = document.getElementById("symbol-events");
    log.prepend(eventLine(message, this.pd));
    while (log.children.length > EVENTS_KEPT) log.lastChild.remove();
    const f = message.data.fields || {};
    if (message.data.event === "ORDER_FILLED" && f.trade_id) {
      if (this.addMarker(f.trade_id, f.side, f.price, f.qty, Number(f.ts_event_ms) || message.data.ts_ms, f.closing === "1")) {
        this.drawMarkers();
      }
    }
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load().catch(console.warn), 250);
  }

  onStatus(view) {
    const entry = view.symbols.find((s) => s.symbol === this.symbol);
    if (entry && this.charts) this.renderHead(entry);
  }
}

// The hosts consuming the symbol's queue, the one whose worker holds its lock starred.
function hostsText(entry) {
  const hosts = Object.keys(entry.consumers_by_host || {});
  const lockHost = (entry.lock_holder || "").split(":")[0];
  if (!hosts.length) return entry.consumers ? "none" : "unknown";
  return hosts.map((h) => (h === lockHost ? `${h} ★` : h)).join(" · ");
}
