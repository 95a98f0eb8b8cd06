// Requests: the recorded exchanges with the filters of /api/logs, and a detail view of one.
import { api, query } from "../api.js";
import { clear, copyText, h, icon, jsonView, ms, num, statusClass, trapFocus, when } from "../dom.js";
import { credentialLabel, credentialNames } from "../credentials.js";
import { locale, t, tv } from "../i18n.js";

const SINCE = { "1h": 1, "24h": 24, "7d": 168, "30d": 720, all: null };
// Headers a replayed request must not carry: hop-by-hop, the client's own, or secrets (masked anyway).
const SKIP_HEADERS = new Set(["host", "content-length", "connection", "accept-encoding", "user-agent", "authorization", "x-goog-api-key", "x-api-key", "cookie", "x-csrf-token", "origin", "referer"]);
const SECRET_HEADERS = ["authorization", "x-goog-api-key", "x-api-key"];
let filters = { since: "24h", model: "", status: "", client: "", credential: "", dialect: "", errors_only: false };

function shellQuote(text) {
  return `'${String(text).replaceAll("'", `'"'"'`)}'`;
}

// The request as a curl command against this gateway, with the token left as $GATEWAY_TOKEN.
export function curlOf(record) {
  const params = new URLSearchParams(record.query || "");
  params.delete("key");
  const search = params.toString();
  const url = `${location.origin}${record.path}${search ? `?${search}` : ""}`;
  const lines = [`curl -X ${record.method} ${shellQuote(url)}`];
  const sent = Object.keys(record.request_headers || {}).map((k) => k.toLowerCase());
  const auth = SECRET_HEADERS.find((name) => sent.includes(name)) || "authorization";
  lines.push(auth === "authorization" ? `-H "Authorization: Bearer $GATEWAY_TOKEN"` : `-H "${auth}: $GATEWAY_TOKEN"`);
  for (const [name, value] of Object.entries(record.request_headers || {})) {
    if (!SKIP_HEADERS.has(name.toLowerCase()) && !name.toLowerCase().startsWith("x-stainless")) lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  }
  if (record.request_body !== null && record.request_body !== undefined) {
    const body = typeof record.request_body === "string" ? record.request_body : JSON.stringify(record.request_body);
    lines.push(`--data-raw ${shellQuote(body)}`);
  }
  if (record.stream) lines.push("--no-buffer");
  return lines.join(" \\\n  ");
}

function statusBadge(record) {
  return h("span", { class: `badge ${statusClass(record.status)}`, title: record.error || "" }, String(record.status));
}

function tokensOf(r) {
  return r.total_tokens ? num(r.total_tokens) : "–";
}

function attemptsTable(attempts, names) {
  if (!attempts?.length) return h("p", { class: "faint" }, t("req.noAttempt"));
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, t("req.backend")), h("th", {}, t("pool.col.credential")), h("th", {}, t("req.status")), h("th", { class: "num" }, t("req.time")), h("th", {}, t("req.error")))),
    h(
      "tbody",
      {},
      attempts.map((a, i) =>
        h("tr", {}, h("td", {}, i + 1), h("td", {}, a.backend), h("td", {}, credentialLabel(names, a.credential_id, a.credential)), h("td", {}, a.status ? h("span", { class: `badge ${statusClass(a.status)}` }, a.status) : h("span", { class: "badge" }, "—")), h("td", { class: "num" }, ms(a.duration_ms)), h("td", { class: "cell-sub", lang: "en" }, a.error || "")),
      ),
    ),
  );
}

// Where the time went. A stream's upstream time covers only its opening (to the first event);
// the rest is the answer streaming through.
function timeline(r) {
  const total = r.duration_ms || 1;
  const upstream = Math.min(total, r.upstream_ms || 0);
  const first = r.first_byte_ms ? Math.min(total, r.first_byte_ms) : null;
  const parts = r.stream && first !== null
    ? [[t("req.tl.upstreamFirst"), upstream, 1], [t("req.tl.gateway"), Math.max(0, first - upstream), 4], [t("req.tl.streaming"), total - first, 3]]
    : [[t("req.tl.gateway"), total - upstream, 4], [t("req.tl.upstream"), upstream, 1]];
  return h(
    "div",
    { class: "stack", style: { gap: "6px" } },
    h("div", { class: "timeline" }, parts.map(([label, value, c]) => h("i", { title: `${label} ${ms(value)}`, style: { width: `${(value / total) * 100}%`, background: `var(--c${c})` } }))),
    h(
      "div",
      { class: "legend" },
      parts.map(([label, value, c]) => h("span", {}, h("i", { class: `swatch-${c}` }), `${label} ${ms(value)}`)),
      first !== null ? h("span", {}, t("req.tl.firstByte", { time: ms(first) })) : null,
      h("span", {}, t("req.tl.total", { time: ms(total) })),
    ),
  );
}

async function openDetail(id) {
  const overlay = h("div", { class: "overlay" });
  const body = h("div", { class: "body" }, h("div", { class: "boot" }, h("div", { class: "boot-mark" })));
  let trap = null;
  const close = () => {
    overlay.remove();
    trap?.release();
    if (location.hash.startsWith("#/requests/")) history.replaceState(null, "", "#/requests");
  };
  overlay.addEventListener("mousedown", (event) => event.target === overlay && close());
  const title = h("h2", { class: "grow" }, t("req.request"));
  const tools = h("div", { class: "row" });
  const drawer = h("div", { class: "drawer", role: "dialog", "aria-modal": "true", "aria-label": t("req.detail"), tabindex: "-1" }, h("header", {}, title, tools, h("button", { class: "ghost", onclick: close, "aria-label": t("common.close") }, icon("x"))), body);
  overlay.append(drawer);
  trap = trapFocus(drawer, close);
  document.body.append(overlay);
  drawer.focus();
  history.replaceState(null, "", `#/requests/${encodeURIComponent(id)}`);
  let r;
  let names;
  try {
    [r, names] = await Promise.all([api(`/api/logs/${encodeURIComponent(id)}`), credentialNames()]);
  } catch (exc) {
    clear(body, h("div", { class: "notice bad" }, t("req.cannotRead", { message: exc.message })));
    return;
  }
  clear(title, `${r.method} ${r.path}`);
  clear(
    tools,
    h("button", { class: "small", onclick: () => copyText(curlOf(r), t("req.curlCopied")) }, icon("copy"), t("req.copyCurl")),
    h("button", { class: "small", onclick: () => copyText(JSON.stringify(r, null, 2), t("req.jsonCopied")) }, icon("copy"), "JSON"),
  );
  const usage = r.usage || {};
  const fact = (label, value) => h("div", {}, h("span", {}, label), h("b", {}, value ?? "–"));
  clear(
    body,
    r.error ? h("div", { class: "notice bad", lang: "en" }, r.error) : null,
    h(
      "section",
      { class: "card" },
      h(
        "div",
        { class: "facts" },
        fact(t("req.status"), statusBadge(r)),
        fact(t("req.received"), new Date(r.received_at_ms).toLocaleString(locale())),
        fact(t("req.dialect"), r.dialect),
        fact(t("req.model"), r.model),
        fact(t("req.client"), r.client_id),
        fact(t("pool.col.credential"), r.credential ? credentialLabel(names, r.credential_id, r.credential) : null),
        fact(t("req.stream"), r.stream ? t("req.streamYes", { n: num(r.chunk_count) }) : t("req.streamNo")),
        fact(t("req.finish"), r.finish_reason ? h("span", { class: "mono" }, r.finish_reason) : null),
        fact(t("dash.tokensIn"), num(usage.prompt ?? r.prompt_tokens)),
        fact(t("dash.tokensOut"), num(usage.candidates ?? r.candidates_tokens)),
        fact(t("req.thoughts"), num(usage.thoughts ?? r.thoughts_tokens)),
        fact(t("req.cached"), num(usage.cached ?? r.cached_tokens)),
        fact(t("req.totalTokens"), num(usage.total ?? r.total_tokens)),
        fact(t("req.requestSize"), `${num(r.request_bytes)} B`),
        fact(t("req.responseSize"), `${num(r.response_bytes)} B`),
        fact(t("req.recording"), tv("recording", r.mode)),
      ),
    ),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, t("req.timing"))), timeline(r)),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, t("req.attempts", { n: r.attempts?.length || 0 }))), h("div", { class: "table-wrap" }, attemptsTable(r.attempts, names))),
    r.generation_settings ? h("section", { class: "card" }, h("header", {}, h("h3", {}, t("req.generation"))), jsonView(r.generation_settings)) : null,
    h("section", { class: "card" }, h("header", {}, h("h3", {}, t("req.requestBody"))), jsonView(r.request_body)),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, r.stream ? t("req.responseStream") : t("req.responseBody"))), jsonView(r.response_body)),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, t("req.headers"))), h("div", { class: "grid two" }, h("div", {}, h("div", { class: "faint" }, t("req.headersRequest")), jsonView(r.request_headers)), h("div", {}, h("div", { class: "faint" }, t("req.headersResponse")), jsonView(r.response_headers)))),
  );
}

function filterForm(onChange) {
  const input = (name, placeholder) => h("input", { name, placeholder, value: filters[name], oninput: (e) => { filters[name] = e.target.value.trim(); onChange(true); } });
  const select = (name, options) => h("select", { name, onchange: (e) => { filters[name] = e.target.value; onChange(); } }, options.map(([value, label]) => h("option", { value, selected: filters[name] === value }, label)));
  return h(
    "div",
    { class: "filters" },
    h("label", { class: "field" }, t("req.time"), select("since", Object.keys(SINCE).map((k) => [k, t(`req.since.${k}`)]))),
    h("label", { class: "field" }, t("req.model"), input("model", t("req.anyModel"))),
    h("label", { class: "field" }, t("req.status"), select("status", [["", t("req.any")], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["429", "429"], ["499", t("req.status499")]])),
    h("label", { class: "field" }, t("req.dialect"), select("dialect", [["", t("req.any")], ["openai", "openai"], ["gemini", "gemini"], ["anthropic", "anthropic"]])),
    h("label", { class: "field" }, t("req.client"), input("client", t("req.clientId"))),
    h("label", { class: "field" }, t("pool.col.credential"), input("credential", t("req.labelOrId"))),
    h("label", { class: "check" }, h("input", { type: "checkbox", checked: filters.errors_only, onchange: (e) => { filters.errors_only = e.target.checked; onChange(); } }), t("req.errorsOnly")),
  );
}

export async function render(main, [detailId]) {
  const tbody = h("tbody");
  const more = h("button", { class: "hidden" }, t("req.loadOlder"));
  let names = new Map();
  const count = h("span", { class: "sub" });
  let cursor = null;
  let shown = 0;
  let alive = true;

  function params(next) {
    const hours = SINCE[filters.since];
    return query({ since: hours ? new Date(Date.now() - hours * 3600e3).toISOString() : null, model: filters.model, status: filters.status, client: filters.client, credential: filters.credential, dialect: filters.dialect, errors_only: filters.errors_only ? "true" : null, limit: 50, cursor: next });
  }

  function row(r) {
    return h(
      "tr",
      {
        class: "clickable",
        tabindex: "0",
        dataset: { id: r.id },
        onclick: () => openDetail(r.id),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            openDetail(r.id);
          }
        },
      },
      h("td", { "data-label": t("req.time"), class: "nowrap" }, when(r.received_at_ms)),
      h("td", { "data-label": t("req.status") }, statusBadge(r)),
      h("td", { "data-label": t("req.dialect") }, r.dialect),
      h("td", { "data-label": t("req.model"), class: "mono" }, r.model || h("span", { class: "faint" }, `${r.method} ${r.path}`), r.stream ? h("span", { class: "badge info", style: { marginLeft: "6px" } }, t("req.streamBadge")) : null),
      h("td", { "data-label": t("req.client"), class: "mono" }, r.client_id || "–"),
      h("td", { "data-label": t("pool.col.credential"), class: "credential" }, r.credential ? credentialLabel(names, r.credential_id, r.credential) : "–", r.attempts?.length > 1 ? h("span", { class: "badge warn", style: { marginLeft: "6px" }, title: t("req.attemptsTitle") }, `×${r.attempts.length}`) : null),
      h("td", { "data-label": t("req.tokens"), class: "num" }, tokensOf(r)),
      h("td", { "data-label": t("req.duration"), class: "num" }, ms(r.duration_ms)),
    );
  }

  let latest = 0;
  async function load(reset = true) {
    const mine = ++latest; // an older answer arriving late must not replace a newer one
    try {
      const [page, known] = await Promise.all([api(`/api/logs${params(reset ? null : cursor)}`), credentialNames()]);
      names = known;
      if (!alive || mine !== latest) return;
      if (reset) {
        clear(tbody);
        shown = 0;
      }
      cursor = page.next_cursor;
      shown += page.items.length;
      tbody.append(...page.items.map(row));
      if (!shown) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, t("req.noMatch"))));
      more.classList.toggle("hidden", !cursor);
      count.textContent = t("req.shown", { n: `${shown}${cursor ? "+" : ""}` });
    } catch (exc) {
      clear(tbody, h("tr", {}, h("td", { colspan: 8 }, h("div", { class: "notice warn" }, t("req.cannotRead", { message: exc.message })))));
    }
  }
  let timer = null;
  const changed = (typing = false) => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), typing ? 300 : 0);
  };
  more.addEventListener("click", () => load(false));

  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("nav.requests")), h("p", {}, t("req.lead"))), h("button", { onclick: () => load(true) }, icon("refresh"), t("common.refresh"))),
    h("section", { class: "card" }, filterForm(changed)),
    h(
      "section",
      { class: "card" },
      h("header", {}, h("h2", {}, t("req.exchanges")), count),
      h("div", { class: "table-wrap" }, h("table", { class: "cards requests-table" }, h("thead", {}, h("tr", {}, [t("req.time"), t("req.status"), t("req.dialect"), t("req.model"), t("req.client"), t("pool.col.credential"), t("req.tokens"), t("req.duration")].map((text, i) => h("th", { class: i >= 6 ? "num" : "" }, text)))), tbody)),
      h("div", { class: "row", style: { justifyContent: "center", marginTop: "12px" } }, more),
    ),
  );
  await load(true);
  if (detailId) openDetail(detailId);
  return () => {
    alive = false;
    clearTimeout(timer);
    document.querySelector(".overlay")?.remove();
  };
}
