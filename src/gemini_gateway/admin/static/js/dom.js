import { locale, t } from "./i18n.js";

// Small DOM helpers. Text always goes in as text nodes, never as HTML: nothing a request,
// a log line or a model answer contains can run as script in the admin page.

export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed by the page's CSP
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && !svg) el.value = value;
    else if (key === "checked" && !svg) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Icons: 24x24 stroke paths drawn for this UI.
const ICONS = {
  dashboard: "M4 13h6V4H4zM14 20h6V11h-6zM4 20h6v-4H4zM14 8h6V4h-6z",
  pool: "M14.5 9.5a4 4 0 1 0-5 3.9V20l2 1.5L13.5 20v-1.5L12 17l1.5-1.5L12 14v-.6a4 4 0 0 0 2.5-3.9zM11.5 7.5h.01",
  requests: "M4 6h16M4 12h16M4 18h10",
  live: "M3 12h4l3-7 4 14 3-7h4",
  settings: "M4 7h10M18 7h2M4 17h4M12 17h8M16 5v4M10 15v4",
  tokens: "M12 3l7 3v5c0 4.5-3 8-7 10-4-2-7-5.5-7-10V6zM9.5 12l2 2 3.5-4",
  playground: "M5 5h14v10H9l-4 4z M9 10h6",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  sun: "M12 4V2M12 22v-2M4 12H2M22 12h-2M5.6 5.6 4.2 4.2M19.8 19.8l-1.4-1.4M5.6 18.4l-1.4 1.4M19.8 4.2l-1.4 1.4M12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
  moon: "M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z",
  menu: "M4 7h16M4 12h16M4 17h16",
  plus: "M12 5v14M5 12h14",
  upload: "M12 16V4M7 9l5-5 5 5M5 20h14",
  refresh: "M20 11a8 8 0 0 0-14.6-4.5L4 8M4 4v4h4M4 13a8 8 0 0 0 14.6 4.5L20 16M20 20v-4h-4",
  check: "M5 12l5 5L20 7",
  x: "M6 6l12 12M18 6 6 18",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  send: "M4 12l16-8-6 16-3-7z",
  stop: "M7 7h10v10H7z",
  trash: "M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13",
  shield: "M12 3l7 3v5c0 4.5-3 8-7 10-4-2-7-5.5-7-10V6z",
  code: "M8 8l-4 4 4 4M16 8l4 4-4 4M13.5 5l-3 14",
  studio: "M3 5h18v11H3zM8 20h8M12 16v4",
  user: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4.5 20a7.5 7.5 0 0 1 15 0",
};

export function icon(name) {
  return h(
    "svg:svg",
    { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" },
    h("svg:path", { d: ICONS[name] || "" }),
  );
}

// Formatting
const numberFormat = new Intl.NumberFormat(locale());
export function num(value) {
  if (value === null || value === undefined) return "–";
  return numberFormat.format(value);
}
export function compact(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e9) return (value / 1e9).toFixed(abs >= 1e10 ? 0 : 1) + "B";
  if (abs >= 1e6) return (value / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
  if (abs >= 1e4) return (value / 1e3).toFixed(abs >= 1e5 ? 0 : 1) + "k";
  return numberFormat.format(Math.round(value * 100) / 100);
}
export function ms(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 10000) return (value / 1000).toFixed(1) + " s";
  if (value >= 1000) return (value / 1000).toFixed(2) + " s";
  return (value >= 100 ? Math.round(value) : value.toFixed(1)) + " ms";
}
export function pct(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return (value * 100).toFixed(value >= 0.995 || value === 0 ? 0 : 1) + "%";
}
export function ago(seconds) {
  if (!seconds) return t("time.never");
  const d = Date.now() / 1000 - seconds;
  if (d < 5) return t("time.justNow");
  if (d < 60) return t("time.secondsAgo", { n: Math.round(d) });
  if (d < 3600) return t("time.minutesAgo", { n: Math.round(d / 60) });
  if (d < 86400) return t("time.hoursAgo", { n: Math.round(d / 3600) });
  return t("time.daysAgo", { n: Math.round(d / 86400) });
}
export function duration(seconds) {
  if (seconds < 60) return Math.ceil(seconds) + "s";
  if (seconds < 3600) return Math.ceil(seconds / 60) + "m";
  return (seconds / 3600).toFixed(1) + "h";
}
export function when(msOrDate) {
  const d = new Date(msOrDate);
  const today = new Date();
  const time = d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (d.toDateString() === today.toDateString()) return time;
  return d.toLocaleDateString(locale(), { month: "short", day: "numeric" }) + " " + time;
}

export function statusClass(status) {
  if (status >= 500 || status === 0) return "bad";
  if (status === 429) return "warn";
  if (status >= 400) return "bad";
  if (status >= 300) return "info";
  return "ok";
}

// Toasts, modals, confirm
export function toast(message, kind = "") {
  const el = h("div", { class: `toast ${kind}`, role: "status" }, message);
  const box = document.getElementById("toasts");
  box.append(el);
  while (box.childElementCount > 3) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === "bad" ? 7000 : 4000);
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
// The field a dialog opens on: one marked autofocus, else the first text field, else its main button.
// In this order of preference (one selector list would match in document order instead).
const FIRST_FIELD = ["[autofocus]", "textarea", "input:not([type=checkbox]):not([type=radio]):not([type=hidden]):not([readonly])", "select", "input:not([type=hidden])", "button.primary", "button"];

function focusables(box) {
  return [...box.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest(".hidden") && el.getClientRects().length > 0);
}

// A dialog layer: Tab and Shift+Tab cycle inside `box`, Escape calls `onEscape`, and `release()`
// gives focus back to what had it before the dialog opened.
export function trapFocus(box, onEscape) {
  const before = document.activeElement;
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      onEscape();
      return;
    }
    if (event.key !== "Tab") return;
    const items = focusables(box);
    if (!items.length) {
      event.preventDefault();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    const inside = box.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  };
  document.addEventListener("keydown", onKey, true);
  return {
    focusFirst() {
      for (const selector of FIRST_FIELD) {
        const target = [...box.querySelectorAll(selector)].find((el) => el.getClientRects().length > 0 && !el.disabled);
        if (target) return target.focus();
      }
      box.focus();
    },
    release() {
      document.removeEventListener("keydown", onKey, true);
      if (before && before.isConnected && typeof before.focus === "function") before.focus();
    },
  };
}

export function modal(build, onClose, label = "") {
  let closed = false;
  const overlay = h("div", { class: "overlay center" });
  const dialog = h("div", { class: "modal", role: "dialog", "aria-modal": "true", tabindex: "-1" });
  const trap = trapFocus(dialog, () => close());
  const close = () => {
    if (closed) return;
    closed = true;
    overlay.remove();
    trap.release();
    onClose?.();
  };
  overlay.addEventListener("mousedown", (event) => event.target === overlay && close());
  append(dialog, [build(close)]);
  const heading = dialog.querySelector("h2");
  if (label) dialog.setAttribute("aria-label", label);
  else if (heading) {
    heading.id ||= `dlg-${Math.random().toString(36).slice(2, 9)}`;
    dialog.setAttribute("aria-labelledby", heading.id);
  }
  overlay.append(dialog);
  document.body.append(overlay);
  trap.focusFirst();
  return close;
}

// A dialog's save, as every edit dialog does it: its buttons held while `work` runs; then the
// dialog closes and the page refreshes, or the error shows in `status` and focus goes back to
// `input`, the dialog left open so the value can be corrected.
export async function saveInDialog({ buttons, status, input, close, refresh }, work) {
  const held = buttons.filter(Boolean);
  for (const b of held) b.disabled = true;
  try {
    await work();
    close();
    refresh();
  } catch (exc) {
    status.textContent = t("common.notSaved", { message: exc.message });
    status.className = "notice bad";
    input.focus();
  } finally {
    for (const b of held) b.disabled = false;
  }
}

export function confirmDialog(title, text, action = t("common.confirm"), danger = true) {
  return new Promise((resolve) => {
    let answer = false;
    modal(
      (close) => [
        h("h2", {}, title),
        h("p", { class: "muted" }, text),
        h(
          "footer",
          {},
          h("button", { onclick: close }, t("common.cancel")),
          h("button", { class: danger ? "danger" : "primary", onclick: () => { answer = true; close(); } }, action),
        ),
      ],
      () => resolve(answer),
    );
  });
}

export async function copyText(text, what = t("common.copied")) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API needs a secure context; fall back to a hidden textarea.
    const area = h("textarea", { class: "hidden-copy" }, text);
    Object.assign(area.style, { position: "fixed", opacity: "0" });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast(what, "ok");
}

// JSON pretty-printing with highlighting, built from text nodes.
export function jsonView(value) {
  const pre = h("pre", { class: "code" });
  if (value === null || value === undefined) {
    pre.append(h("span", { class: "faint" }, t("common.notRecorded")));
    return pre;
  }
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  if (typeof value === "string") {
    pre.append(text);
    return pre;
  }
  const pattern = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) pre.append(text.slice(last, match.index));
    if (match[1]) {
      pre.append(h("span", { class: match[2] ? "j-key" : "j-str" }, match[1]));
      if (match[2]) pre.append(match[2]);
    } else if (match[3]) pre.append(h("span", { class: "j-lit" }, match[3]));
    else pre.append(h("span", { class: "j-num" }, match[4]));
    last = match.index + match[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

export function switchInput(attrs) {
  return h("label", { class: "switch" }, h("input", { type: "checkbox", ...attrs }), h("span"));
}

export function debounce(fn, wait = 300) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}
