// Formatting and DOM helpers shared by the pages.

export function token() {
  return new URLSearchParams(location.search).get("token");
}

export function withToken(url) {
  const t = token();
  if (!t) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
}

export async function getJSON(url) {
  const response = await fetch(withToken(url), { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// Round a decimal string to dp places for display (money travels as strings).
export function num(value, dp) {
  if (value === null || value === undefined || value === "") return "–";
  const n = rounded(value, dp);
  if (!Number.isFinite(n)) return String(value);
  return n.toLocaleString("en-US", { minimumFractionDigits: dp, maximumFractionDigits: dp });
}

// The value as shown: what rounds to zero is zero (no "-0.00", and no red or green for it).
function rounded(value, dp) {
  const n = Number(value);
  return Math.abs(n) < 0.5 * 10 ** -dp ? 0 : n;
}

export function signed(value, dp) {
  const text = num(value, dp);
  return rounded(value, dp) > 0 ? "+" + text : text;
}

export function signClass(value, dp = 8) {
  const n = rounded(value, dp);
  return n > 0 ? "pos" : n < 0 ? "neg" : "";
}

export function age(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.max(0, ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} m`;
  return `${Math.floor(ms / 3_600_000)} h`;
}

export function clock(tsMs) {
  return new Date(tsMs).toISOString().slice(11, 23);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

export function pill(node, state) {
  node.textContent = state || "–";
  node.className = "pill " + (state || "");
}

// A bar for a 0..1+ usage figure (position against max_position, ...).
export function usageBar(usage) {
  const bar = el("span", { class: "bar" });
  const fill = el("i");
  if (usage !== null && usage !== undefined) {
    fill.style.width = `${Math.min(100, Math.round(usage * 100))}%`;
    if (usage >= 0.9) bar.classList.add("high");
    else if (usage >= 0.6) bar.classList.add("mid");
  }
  bar.append(fill);
  return bar;
}

// One line of an events log; money rounded to dp places when the symbol's precision is known.
export function eventLine(message, dp = null) {
  const d = message.data;
  const f = d.fields || {};
  const money = (v) => (dp === null || v === undefined ? v : num(v, dp));
  let text = "";
  if (d.event === "ORDER_FILLED") text = `${f.side} ${f.qty} @ ${f.price}${f.closing === "1" ? " (closing)" : ""}`;
  else if (d.event.startsWith("ORDER_")) text = `${f.side || ""} ${f.qty || ""} @ ${f.price || ""} ${f.reason || ""}`;
  else if (d.event.startsWith("POSITION_")) text = `${f.before_qty} → ${f.after_qty}, realized ${money(f.realized_pnl)}`;
  else if (d.event === "FLEET_STATE_CHANGED") text = `${f.from} → ${f.to}: ${f.reason || ""}`;
  else text = Object.entries(f).slice(0, 4).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return el("div", { class: `ev ${message.type}`, "data-id": message.id || "" },
    el("span", { class: "t", text: clock(d.ts_ms) }),
    el("span", { class: "ty", text: d.event }),
    el("span", { class: "sym", text: d.symbol === "*" ? "fleet" : d.symbol }),
    el("span", { text }));
}
