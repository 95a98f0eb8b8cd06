// Dashboard: traffic, errors, tokens and latency over time, per model and per credential; pool health.
import { api, query } from "../api.js";
import { dayLabel, legend, sparkline, timeChart } from "../charts.js";
import { clear, compact, duration, h, ms, num, pct } from "../dom.js";
import { credentialText } from "../credentials.js";
import { t, tv } from "../i18n.js";

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
          { class: "bar-track", title: t("dash.barTitle", { requests: num(r.requests), errors: num(r.errors) }) },
          h("i", { style: { width: `${(ok / max) * 100}%`, background: "var(--c1)" } }),
          h("i", { style: { width: `${(r.errors / max) * 100}%`, background: "var(--bad)" } }),
        ),
        h("span", { class: "val" }, t("dash.barValue", { requests: compact(r.requests), tokens: compact(r.tokens_total), p95: ms(r.latency_p95_ms) })),
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
  if (!keys.credentials.length) return h("div", { class: "empty" }, t("dash.noCredentials"), " ", h("a", { href: "#/welcome" }, t("dash.getStarted")));
  return h(
    "div",
    { class: "tiles" },
    keys.credentials.map((c) => {
      const cooling = Object.values(c.cooldowns);
      const sub = c.health === "cooling" ? t("dash.coolingFor", { time: duration(Math.max(...cooling)) }) : c.health === "failed" ? h("span", { lang: "en" }, c.disabled_reason) : t("common.okFailed", { ok: num(c.successes), failed: num(c.failures) });
      return h(
        "a",
        { class: "tile", href: "#/pool", title: c.last_error || "" },
        h("div", { class: "top" }, h("span", { class: `dot ${tone[c.health] ?? ""}` }), c.name ? `${c.name} (${c.label})` : c.label),
        h("div", { class: "sub" }, [tv("kind", c.kind), tv("health", c.health), c.in_flight ? t("common.inFlight", { n: c.in_flight }) : null].filter(Boolean).join(" · ")),
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
    { name: t("dash.requests"), values: pick("requests"), area: true, color: 0 },
    { name: t("dash.errors"), values: pick("errors"), color: 1 },
  ];
  const tokens = [
    { name: t("dash.tokensIn"), values: pick("tokens_in"), color: 0 },
    { name: t("dash.tokensOut"), values: pick("tokens_out"), color: 3 },
  ];
  const latency = [
    { name: "p50", values: pick("latency_p50_ms"), color: 2 },
    { name: "p95", values: pick("latency_p95_ms"), color: 4 },
  ];
  return [
    storeProblem ? h("div", { class: "notice warn" }, t("dash.storeProblem", { message: storeProblem.error.message })) : null,
    h(
      "div",
      { class: "grid kpis" },
      kpi(t("dash.requests"), compact(total.requests), t("dash.lastHour", { n: num(lastHour.requests) }), sparkline(pick("requests"), 0)),
      kpi(t("dash.errorRate"), pct(total.requests ? total.errors / total.requests : 0), t("dash.errorsFoot", { errors: num(total.errors), hour: num(lastHour.errors) }), sparkline(pick("errors"), 1)),
      kpi(t("dash.tokens"), compact(total.tokens_total), t("dash.tokensFoot", { in: compact(total.tokens_in), out: compact(total.tokens_out) }), sparkline(pick("tokens_total"), 3)),
      kpi(t("dash.latency95"), ms(total.latency_p95_ms ?? null), t("dash.latencyFoot", { p50: ms(total.latency_p50_ms ?? null), avg: ms(total.latency_avg_ms ?? null) }), sparkline(pick("latency_p95_ms"), 4)),
      kpi(
        t("nav.pool"),
        h("span", {}, `${overview.pool.usable}`, h("small", {}, t("dash.usableOf", { total: overview.pool.total }))),
        t("dash.poolFoot", { cooling: sum.cooling, failed: sum.failed, disabled: sum.disabled }),
        null,
      ),
    ),
    h(
      "div",
      { class: "grid two" },
      h("section", { class: "card" }, h("header", {}, h("h2", {}, t("dash.traffic")), legend(traffic)), timeChart({ series: traffic, labels, format: compact, labelFormat })),
      h("section", { class: "card" }, h("header", {}, h("h2", {}, t("dash.tokens")), legend(tokens)), timeChart({ series: tokens, labels, format: compact, kind: "bars", labelFormat })),
    ),
    h(
      "div",
      { class: "grid two" },
      h("section", { class: "card" }, h("header", {}, h("h2", {}, t("dash.perModel")), h("span", { class: "sub" }, t("dash.perModelSub"))), barRows(data.perModel.error ? [] : data.perModel, t("dash.noTraffic"), t("dash.noModel"))),
      h("section", { class: "card" }, h("header", {}, h("h2", {}, t("dash.perCredential")), h("span", { class: "sub" }, t("dash.perCredentialSub"))), barRows(data.perCredential.error ? [] : credentialGroups(data.perCredential, keys), t("dash.noTraffic"), t("dash.noUpstream"))),
    ),
    h(
      "div",
      { class: "grid three" },
      h("section", { class: "card" }, h("header", {}, h("h2", {}, t("dash.latency")), legend(latency)), timeChart({ series: latency, labels, format: ms, labelFormat })),
      h(
        "section",
        { class: "card" },
        h("header", {}, h("h2", {}, t("dash.poolHealth")), h("a", { href: "#/pool", class: "sub" }, t("dash.manage"))),
        poolTiles(keys),
      ),
    ),
    h(
      "p",
      { class: "faint" },
      [
        t("dash.footVersion", { version: overview.version, uptime: duration(overview.uptime_seconds) }),
        overview.store.ok ? t("dash.storeOk") : t("dash.storeDown", { error: overview.store.error }),
        t("dash.recording", { mode: tv("recording", overview.recorder.mode) }),
        overview.access.open ? t("dash.openAccess") : null,
      ].filter(Boolean).join(" · "),
    ),
  ];
}

export async function render(main) {
  const body = h("div", { class: "stack" });
  const seg = h(
    "div",
    { class: "seg", role: "group", "aria-label": t("dash.range") },
    Object.keys(RANGES).map((key) =>
      h("button", { class: key === range ? "on" : "", dataset: { range: key }, "aria-pressed": String(key === range), onclick: () => { range = key; refresh(); seg.querySelectorAll("button").forEach((b) => { b.classList.toggle("on", b.dataset.range === key); b.setAttribute("aria-pressed", String(b.dataset.range === key)); }); } }, t(`dash.range.${key}`)),
    ),
  );
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("nav.dashboard")), h("p", {}, t("dash.lead"))), seg), body);
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
