// Dashboard: traffic, errors, tokens and latency over time, per model and per credential; pool health.
import { api, query } from "../api.js";
import { dayLabel, legend, sparkline, timeChart } from "../charts.js";
import { clear, compact, duration, h, ms, num, pct } from "../dom.js";
import { credentialText } from "../credentials.js";

const RANGES = {
  "24h": { hours: 24, bucket: "hour" },
  "7d": { hours: 24 * 7, bucket: "hour" },
  "30d": { hours: 24 * 30, bucket: "day" },
};
const STEP = { hour: 3600e3, day: 86400e3 };

let range = "24h";

function buckets(rows, hours, bucket) {
  const step = STEP[bucket];
  const now = Date.now();
  const first = Math.floor((now - hours * 3600e3) / step) * step;
  const byStart = new Map(rows.map((r) => [r.bucket_start_ms, r]));
  const out = [];
  for (let t = first; t <= now; t += step) out.push(byStart.get(t) || { bucket_start_ms: t });
  return out;
}

function kpi(label, value, foot, spark) {
  return h("div", { class: "card kpi" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "foot" }, foot), spark ? h("div", { class: "spark" }, spark) : null);
}

function barRows(rows, empty, none) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  const max = Math.max(1, ...rows.map((r) => r.requests));
  return h(
    "div",
    { class: "bars" },
    rows.slice(0, 10).map((r) => {
      const ok = r.requests - r.errors;
      return h(
        "div",
        { class: "bar-row" },
        h("span", { class: `name mono ${r.group ? "" : "faint"}`, title: r.group ?? none }, r.group ?? none),
        h(
          "span",
          { class: "bar-track", title: `${num(r.requests)} requests, ${num(r.errors)} errors` },
          h("i", { style: { width: `${(ok / max) * 100}%`, background: "var(--c1)" } }),
          h("i", { style: { width: `${(r.errors / max) * 100}%`, background: "var(--bad)" } }),
        ),
        h("span", { class: "val" }, `${compact(r.requests)} req · ${compact(r.tokens_total)} tok · p95 ${ms(r.latency_p95_ms)}`),
      );
    }),
  );
}

// Rows grouped by credential id, shown by the operator's name and mask (an id no longer pooled as is).
function credentialGroups(rows, keys) {
  const names = new Map(keys.credentials.map((c) => [c.id, { label: c.label, name: c.name }]));
  return rows.map((r) => ({ ...r, group: r.group ? credentialText(names, r.group, null) : null }));
}

function poolTiles(keys) {
  const tone = { ok: "ok", cooling: "warn", busy: "warn", failed: "bad", disabled: "" };
  if (!keys.credentials.length) return h("div", { class: "empty" }, "No credentials yet. Add keys on the Pool page.");
  return h(
    "div",
    { class: "tiles" },
    keys.credentials.map((c) => {
      const cooling = Object.values(c.cooldowns);
      const sub = c.health === "cooling" ? `cooling ${duration(Math.max(...cooling))}` : c.health === "failed" ? c.disabled_reason : `${num(c.successes)} ok · ${num(c.failures)} failed`;
      return h(
        "a",
        { class: "tile", href: "#/pool", title: c.last_error || "" },
        h("div", { class: "top" }, h("span", { class: `dot ${tone[c.health] ?? ""}` }), c.name ? `${c.name} (${c.label})` : c.label),
        h("div", { class: "sub" }, `${c.kind} · ${c.health}${c.in_flight ? ` · ${c.in_flight} in flight` : ""}`),
        h("div", { class: "sub" }, sub),
      );
    }),
  );
}

async function load() {
  const { hours, bucket } = RANGES[range];
  const since = new Date(Date.now() - hours * 3600e3).toISOString();
  const hourAgo = new Date(Date.now() - 3600e3).toISOString();
  const stats = (params) => api(`/api/stats${query(params)}`).then((r) => r.rows).catch((e) => ({ error: e }));
  const [overview, keys, series, total, lastHour, perModel, perCredential] = await Promise.all([
    api("/api/overview"),
    api("/api/keys"),
    stats({ since, group_by: "none", bucket }),
    stats({ since, group_by: "none", bucket: "none" }),
    stats({ since: hourAgo, group_by: "none", bucket: "none" }),
    stats({ since, group_by: "model", bucket: "none" }),
    stats({ since, group_by: "credential_id", bucket: "none" }),
  ]);
  return { overview, keys, series, total, lastHour, perModel, perCredential, hours, bucket };
}

function view(data) {
  const { overview, keys, hours, bucket } = data;
  const storeProblem = [data.series, data.total].find((r) => r && r.error);
  const rows = storeProblem ? [] : buckets(data.series, hours, bucket);
  const total = (!storeProblem && data.total[0]) || { requests: 0, errors: 0, tokens_total: 0, tokens_in: 0, tokens_out: 0 };
  const lastHour = (!data.lastHour.error && data.lastHour[0]) || { requests: 0, errors: 0 };
  const labels = rows.map((r) => r.bucket_start_ms);
  const pick = (key) => rows.map((r) => r[key] || 0);
  const labelFormat = bucket === "day" ? dayLabel : undefined;
  const sum = keys.summary;
  const traffic = [
    { name: "Requests", values: pick("requests"), area: true, color: 0 },
    { name: "Errors", values: pick("errors"), color: 1 },
  ];
  const tokens = [
    { name: "Tokens in", values: pick("tokens_in"), color: 0 },
    { name: "Tokens out", values: pick("tokens_out"), color: 3 },
  ];
  const latency = [
    { name: "p50", values: pick("latency_p50_ms"), color: 2 },
    { name: "p95", values: pick("latency_p95_ms"), color: 4 },
  ];
  return [
    storeProblem ? h("div", { class: "notice warn" }, `Statistics need the store: ${storeProblem.error.message}`) : null,
    h(
      "div",
      { class: "grid kpis" },
      kpi("Requests", compact(total.requests), `${num(lastHour.requests)} in the last hour`, sparkline(pick("requests"), 0)),
      kpi("Error rate", pct(total.requests ? total.errors / total.requests : 0), `${num(total.errors)} errors · ${num(lastHour.errors)} last hour`, sparkline(pick("errors"), 1)),
      kpi("Tokens", compact(total.tokens_total), `${compact(total.tokens_in)} in · ${compact(total.tokens_out)} out`, sparkline(pick("tokens_total"), 3)),
      kpi("Latency p95", ms(total.latency_p95_ms ?? null), `p50 ${ms(total.latency_p50_ms ?? null)} · avg ${ms(total.latency_avg_ms ?? null)}`, sparkline(pick("latency_p95_ms"), 4)),
      kpi(
        "Pool",
        h("span", {}, `${overview.pool.usable}`, h("small", {}, `/ ${overview.pool.total} usable`)),
        `${sum.cooling} cooling · ${sum.failed} failed · ${sum.disabled} off`,
        null,
      ),
    ),
    h(
      "div",
      { class: "grid two" },
      h("section", { class: "card" }, h("header", {}, h("h2", {}, "Traffic"), legend(traffic)), timeChart({ series: traffic, labels, format: compact, labelFormat })),
      h("section", { class: "card" }, h("header", {}, h("h2", {}, "Tokens"), legend(tokens)), timeChart({ series: tokens, labels, format: compact, kind: "bars", labelFormat })),
    ),
    h(
      "div",
      { class: "grid two" },
      h("section", { class: "card" }, h("header", {}, h("h2", {}, "Per model"), h("span", { class: "sub" }, "requests (errors in red)")), barRows(data.perModel.error ? [] : data.perModel, "No traffic in this range.", "(no model)")),
      h("section", { class: "card" }, h("header", {}, h("h2", {}, "Per credential"), h("span", { class: "sub" }, "who served the traffic")), barRows(data.perCredential.error ? [] : credentialGroups(data.perCredential, keys), "No traffic in this range.", "(no upstream)")),
    ),
    h(
      "div",
      { class: "grid three" },
      h("section", { class: "card" }, h("header", {}, h("h2", {}, "Latency"), legend(latency)), timeChart({ series: latency, labels, format: ms, labelFormat })),
      h(
        "section",
        { class: "card" },
        h("header", {}, h("h2", {}, "Pool health"), h("a", { href: "#/pool", class: "sub" }, "manage →")),
        poolTiles(keys),
      ),
    ),
    h(
      "p",
      { class: "faint" },
      `gemini-gateway ${overview.version} · up ${duration(overview.uptime_seconds)} · store ${overview.store.ok ? "ok" : `down (${overview.store.error})`} · recording ${overview.recorder.mode}${overview.access.open ? " · model API open to anyone on loopback (no client tokens)" : ""}`,
    ),
  ];
}

export async function render(main) {
  const body = h("div", { class: "stack" });
  const seg = h(
    "div",
    { class: "seg", role: "group", "aria-label": "Time range" },
    Object.keys(RANGES).map((key) =>
      h("button", { class: key === range ? "on" : "", "aria-pressed": String(key === range), onclick: () => { range = key; refresh(); seg.querySelectorAll("button").forEach((b) => { b.classList.toggle("on", b.textContent === key); b.setAttribute("aria-pressed", String(b.textContent === key)); }); } }, key),
    ),
  );
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Dashboard"), h("p", {}, "Traffic through the gateway and the health of its pool.")), seg), body);
  let alive = true;
  let latest = 0;
  async function refresh() {
    const mine = ++latest; // switching the range while a refresh is out: the newer one wins
    const data = await load();
    if (alive && mine === latest) clear(body, view(data));
  }
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), 15000);
  return () => {
    alive = false;
    clearInterval(timer);
  };
}
