// The dashboard: one live feed, two pages (#/ the fleet, #/symbol/<SYMBOL> one symbol).

import { Feed } from "./feed.js";
import { FleetPage } from "./fleet.js";
import { SymbolPage } from "./symbol.js";

const fleet = new FleetPage();
const symbolPage = new SymbolPage();
let view = null;

function route() {
  const match = /^#\/symbol\/([A-Z0-9]+)$/.exec(location.hash);
  document.getElementById("fleet-page").hidden = Boolean(match);
  document.getElementById("symbol-page").hidden = !match;
  if (match) {
    feed.subscribe(match[1]);
    symbolPage.open(match[1]).catch((error) => console.warn("symbol page:", error.message));
  } else {
    symbolPage.close();
  }
}

function onMessage(message) {
  switch (message.type) {
    case "status":
      if (message.id) { // a symbol added, removed, paused, resumed ...
        fleet.addEvents([message]);
        symbolPage.onEvent(message);
      } else {
        view = message.data;
        fleet.render(view);
        symbolPage.onStatus(view);
      }
      break;
    case "history":
      if (message.data.events) fleet.addEvents(message.data.events);
      if (message.data.gap) console.info("events before", message.data.oldest, "were trimmed");
      break;
    case "kline":
      symbolPage.onTick(message.data);
      break;
    default: // orders, trade_event, position, risk: events from the stream
      fleet.addEvents([message]);
      if (message.type === "trade_event") fleet.onFill(message.data.symbol);
      symbolPage.onEvent(message);
  }
}

function onState(live) {
  const conn = document.getElementById("conn");
  conn.textContent = live ? "live" : "reconnecting";
  conn.classList.toggle("live", live);
}

const feed = new Feed(onMessage, onState);
window.addEventListener("hashchange", route);
route();

// For tests and the curious: what the page shows now.
window.mmDash = {
  view: () => view,
  matrixSymbols: () => [...document.querySelectorAll("#matrix tbody tr")].map((tr) => tr.dataset.symbol),
  markers: () => [...symbolPage.markers.values()],
  bars: () => symbolPage.barCount,
  priceLines: () => symbolPage.priceLines.map(({ price, side, closing, status }) => ({ price, side, closing, status })),
  lastEventId: () => feed.lastId,
};
