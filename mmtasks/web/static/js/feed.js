// The /ws feed: reconnects with ?after=<last stream id seen>, so no event is missed or doubled.

import { token } from "./fmt.js";

export class Feed {
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.lastId = null;
    this.subscribed = null;
    this.retryMs = 500;
    this.connect();
  }

  url() {
    const params = new URLSearchParams();
    if (this.lastId) params.set("after", this.lastId);
    const t = token();
    if (t) params.set("token", t);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws?${params}`;
  }

  connect() {
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.onState(true);
      if (this.subscribed) this.subscribe(this.subscribed);
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id) this.lastId = message.id;
      else if (!this.lastId && message.type === "status" && message.data.stream_id) {
        this.lastId = message.data.stream_id; // events after the snapshot follow
      }
      this.onMessage(message);
    };
    ws.onclose = () => {
      this.onState(false);
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }

  subscribe(symbol) {
    this.subscribed = symbol;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "subscribe", symbol }));
    }
  }
}
