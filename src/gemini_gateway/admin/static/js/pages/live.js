// Live log: server log lines and request events as they happen, over the /ws/logs WebSocket.
import { clear, h, icon, ms } from "../dom.js";
import { credentialNames, credentialText } from "../credentials.js";
import { locale, t } from "../i18n.js";

const MAX_LINES = 1000;

function time(seconds) {
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString(locale(), { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function line(event, names) {
  if (event.type === "request") {
    const parts = [`${event.method} ${event.path}`, `→ ${event.status}`, ms(event.duration_ms)];
    if (event.model) parts.push(event.model);
    if (event.credential) parts.push(t("live.via", { credential: credentialText(names, event.credential_id, event.credential) }));
    if (event.client) parts.push(t("live.client", { client: event.client }));
    if (event.attempts > 1) parts.push(t("live.attempts", { n: event.attempts }));
    const tone = event.status >= 500 ? "lv-error" : event.status >= 400 ? "lv-warning" : "lv-req";
    return h(
      "div",
      { class: "log-line", dataset: { kind: "request" } },
      h("span", { class: "t" }, time(event.at)),
      h("span", { class: `lv ${tone}` }, t("live.req")),
      h("span", { class: "msg" }, parts.join("  "), event.error ? h("span", { lang: "en" }, `  · ${event.error}`) : null),
    );
  }
  return h(
    "div",
    { class: "log-line", dataset: { kind: "log" } },
    h("span", { class: "t" }, time(event.at)),
    h("span", { class: `lv lv-${event.level}` }, String(event.level).toUpperCase()),
    // Server log lines are the server's own words (English), marked so.
    h("span", { class: "msg", lang: "en" }, h("span", { class: "faint" }, `${event.logger}: `), event.message),
  );
}

export async function render(main) {
  const box = h("div", { class: "log", role: "log", "aria-live": "off" });
  const status = h("span", { class: "conn" }, h("span", { class: "dot" }), t("live.connecting"));
  const filter = h("input", { placeholder: t("live.filter"), "aria-label": t("live.filterLabel"), oninput: () => applyFilter() });
  const showLogs = h("input", { type: "checkbox", checked: true, onchange: () => applyFilter() });
  const showRequests = h("input", { type: "checkbox", checked: true, onchange: () => applyFilter() });
  const pause = h("button", { onclick: () => { paused = !paused; pause.textContent = paused ? t("live.resume") : t("live.pause"); if (!paused) flush(); } }, t("live.pause"));
  let names = new Map();
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
      const el = line(event, names);
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
    socket.onopen = () => setStatus(t("live.live"), "ok");
    // In order: the credential names are looked up (cached for a few seconds) before each batch is shown.
    let queue = Promise.resolve();
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      const events = event.type === "hello" ? event.history : [event];
      queue = queue.then(async () => {
        if (events.some((e) => e.type === "request" && e.credential)) names = await credentialNames();
        if (paused) held.push(...events);
        else add(events);
      });
    };
    socket.onclose = () => {
      if (closed) return;
      setStatus(t("live.retrying"), "bad");
      retry = setTimeout(connect, 2000);
    };
  }

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("nav.live")), h("p", {}, t("live.lead"))),
      status,
    ),
    h(
      "section",
      { class: "card stack", style: { gap: "12px" } },
      h(
        "div",
        { class: "row" },
        h("div", { class: "grow", style: { minWidth: "180px" } }, filter),
        h("label", { class: "check" }, showRequests, t("live.requests")),
        h("label", { class: "check" }, showLogs, t("live.logLines")),
        pause,
        h("button", { class: "ghost", onclick: () => clear(box) }, icon("trash"), t("live.clear")),
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
