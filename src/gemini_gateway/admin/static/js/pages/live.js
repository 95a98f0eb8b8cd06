// Live log: server log lines and request events as they happen, over the /ws/logs WebSocket.
import { clear, h, icon, ms } from "../dom.js";

const MAX_LINES = 1000;

function time(seconds) {
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function line(event) {
  if (event.type === "request") {
    const parts = [`${event.method} ${event.path}`, `→ ${event.status}`, ms(event.duration_ms)];
    if (event.model) parts.push(event.model);
    if (event.credential) parts.push(`via ${event.credential}`);
    if (event.client) parts.push(`client ${event.client}`);
    if (event.attempts > 1) parts.push(`${event.attempts} attempts`);
    if (event.error) parts.push(`· ${event.error}`);
    const tone = event.status >= 500 ? "lv-error" : event.status >= 400 ? "lv-warning" : "lv-req";
    return h("div", { class: "log-line", dataset: { kind: "request" } }, h("span", { class: "t" }, time(event.at)), h("span", { class: `lv ${tone}` }, "req"), h("span", { class: "msg" }, parts.join("  ")));
  }
  return h(
    "div",
    { class: "log-line", dataset: { kind: "log" } },
    h("span", { class: "t" }, time(event.at)),
    h("span", { class: `lv lv-${event.level}` }, event.level),
    h("span", { class: "msg" }, h("span", { class: "faint" }, `${event.logger}: `), event.message),
  );
}

export async function render(main) {
  const box = h("div", { class: "log", role: "log", "aria-live": "off" });
  const status = h("span", { class: "conn" }, h("span", { class: "dot" }), "connecting…");
  const filter = h("input", { placeholder: "Filter lines…", "aria-label": "Filter", oninput: () => applyFilter() });
  const showLogs = h("input", { type: "checkbox", checked: true, onchange: () => applyFilter() });
  const showRequests = h("input", { type: "checkbox", checked: true, onchange: () => applyFilter() });
  const pause = h("button", { onclick: () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; if (!paused) flush(); } }, "Pause");
  let paused = false;
  let held = [];
  let socket = null;
  let retry = null;
  let closed = false;

  const visible = (el) => {
    const kind = el.dataset.kind;
    if (kind === "log" && !showLogs.checked) return false;
    if (kind === "request" && !showRequests.checked) return false;
    const text = filter.value.trim().toLowerCase();
    return !text || el.textContent.toLowerCase().includes(text);
  };
  function applyFilter() {
    for (const el of box.children) el.classList.toggle("hidden", !visible(el));
  }
  function add(events) {
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
    for (const event of events) {
      const el = line(event);
      if (!visible(el)) el.classList.add("hidden");
      box.append(el);
    }
    while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
    if (stick) box.scrollTop = box.scrollHeight;
  }
  function flush() {
    add(held);
    held = [];
  }
  function setStatus(text, tone) {
    clear(status, h("span", { class: `dot ${tone}` }), text);
  }
  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/logs`;
    socket = new WebSocket(url);
    socket.onopen = () => setStatus("live", "ok");
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      const events = event.type === "hello" ? event.history : [event];
      if (paused) held.push(...events);
      else add(events);
    };
    socket.onclose = () => {
      if (closed) return;
      setStatus("disconnected, retrying…", "bad");
      retry = setTimeout(connect, 2000);
    };
  }

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Live log"), h("p", {}, "Server log lines and model requests as they happen (secrets are redacted).")),
      status,
    ),
    h(
      "section",
      { class: "card stack", style: { gap: "12px" } },
      h(
        "div",
        { class: "row" },
        h("div", { class: "grow", style: { minWidth: "180px" } }, filter),
        h("label", { class: "check" }, showRequests, "Requests"),
        h("label", { class: "check" }, showLogs, "Log lines"),
        pause,
        h("button", { class: "ghost", onclick: () => clear(box) }, icon("trash"), "Clear"),
      ),
      box,
    ),
  );
  connect();
  return () => {
    closed = true;
    clearTimeout(retry);
    socket?.close();
  };
}
