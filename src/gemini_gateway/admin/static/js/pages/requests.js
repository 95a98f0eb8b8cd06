// Requests: the recorded exchanges with the filters of /api/logs, and a detail view of one.
import { api, query } from "../api.js";
import { clear, copyText, h, icon, jsonView, ms, num, statusClass, trapFocus, when } from "../dom.js";

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

function attemptsTable(attempts) {
  if (!attempts?.length) return h("p", { class: "faint" }, "No upstream attempt (answered by the gateway itself).");
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Backend"), h("th", {}, "Credential"), h("th", {}, "Status"), h("th", { class: "num" }, "Time"), h("th", {}, "Error"))),
    h(
      "tbody",
      {},
      attempts.map((a, i) =>
        h("tr", {}, h("td", {}, i + 1), h("td", {}, a.backend), h("td", { class: "mono" }, a.credential), h("td", {}, a.status ? h("span", { class: `badge ${statusClass(a.status)}` }, a.status) : h("span", { class: "badge" }, "—")), h("td", { class: "num" }, ms(a.duration_ms)), h("td", { class: "cell-sub" }, a.error || "")),
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
    ? [["upstream until the first event", upstream, 1], ["gateway", Math.max(0, first - upstream), 4], ["streaming", total - first, 3]]
    : [["gateway", total - upstream, 4], ["upstream", upstream, 1]];
  return h(
    "div",
    { class: "stack", style: { gap: "6px" } },
    h("div", { class: "timeline" }, parts.map(([label, value, c]) => h("i", { title: `${label} ${ms(value)}`, style: { width: `${(value / total) * 100}%`, background: `var(--c${c})` } }))),
    h(
      "div",
      { class: "legend" },
      parts.map(([label, value, c]) => h("span", {}, h("i", { class: `swatch-${c}` }), `${label} ${ms(value)}`)),
      first !== null ? h("span", {}, `first byte at ${ms(first)}`) : null,
      h("span", {}, `total ${ms(total)}`),
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
  const title = h("h2", { class: "grow" }, "Request");
  const tools = h("div", { class: "row" });
  const drawer = h("div", { class: "drawer", role: "dialog", "aria-modal": "true", "aria-label": "Request detail", tabindex: "-1" }, h("header", {}, title, tools, h("button", { class: "ghost", onclick: close, "aria-label": "Close" }, icon("x"))), body);
  overlay.append(drawer);
  trap = trapFocus(drawer, close);
  document.body.append(overlay);
  drawer.focus();
  history.replaceState(null, "", `#/requests/${encodeURIComponent(id)}`);
  let r;
  try {
    r = await api(`/api/logs/${encodeURIComponent(id)}`);
  } catch (exc) {
    clear(body, h("div", { class: "notice bad" }, exc.message));
    return;
  }
  clear(title, `${r.method} ${r.path}`);
  clear(
    tools,
    h("button", { class: "small", onclick: () => copyText(curlOf(r), "curl command copied (token left out as $GATEWAY_TOKEN)") }, icon("copy"), "Copy as curl"),
    h("button", { class: "small", onclick: () => copyText(JSON.stringify(r, null, 2), "Record copied as JSON") }, icon("copy"), "JSON"),
  );
  const usage = r.usage || {};
  const fact = (label, value) => h("div", {}, h("span", {}, label), h("b", {}, value ?? "–"));
  clear(
    body,
    r.error ? h("div", { class: "notice bad" }, r.error) : null,
    h(
      "section",
      { class: "card" },
      h(
        "div",
        { class: "facts" },
        fact("Status", statusBadge(r)),
        fact("Received", new Date(r.received_at_ms).toLocaleString()),
        fact("Dialect", r.dialect),
        fact("Model", r.model),
        fact("Client", r.client_id),
        fact("Credential", r.credential),
        fact("Stream", r.stream ? `yes · ${num(r.chunk_count)} chunks` : "no"),
        fact("Finish", r.finish_reason),
        fact("Tokens in", num(usage.prompt ?? r.prompt_tokens)),
        fact("Tokens out", num(usage.candidates ?? r.candidates_tokens)),
        fact("Thoughts", num(usage.thoughts ?? r.thoughts_tokens)),
        fact("Cached", num(usage.cached ?? r.cached_tokens)),
        fact("Total tokens", num(usage.total ?? r.total_tokens)),
        fact("Request size", `${num(r.request_bytes)} B`),
        fact("Response size", `${num(r.response_bytes)} B`),
        fact("Recording", r.mode),
      ),
    ),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, "Timing")), timeline(r)),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, `Attempts (${r.attempts?.length || 0})`)), h("div", { class: "table-wrap" }, attemptsTable(r.attempts))),
    r.generation_settings ? h("section", { class: "card" }, h("header", {}, h("h3", {}, "Generation settings")), jsonView(r.generation_settings)) : null,
    h("section", { class: "card" }, h("header", {}, h("h3", {}, "Request body")), jsonView(r.request_body)),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, r.stream ? "Response (stream merged into one answer)" : "Response body")), jsonView(r.response_body)),
    h("section", { class: "card" }, h("header", {}, h("h3", {}, "Headers")), h("div", { class: "grid two" }, h("div", {}, h("div", { class: "faint" }, "request (secrets masked)"), jsonView(r.request_headers)), h("div", {}, h("div", { class: "faint" }, "response"), jsonView(r.response_headers)))),
  );
}

function filterForm(onChange) {
  const input = (name, placeholder) => h("input", { name, placeholder, value: filters[name], oninput: (e) => { filters[name] = e.target.value.trim(); onChange(true); } });
  const select = (name, options) => h("select", { name, onchange: (e) => { filters[name] = e.target.value; onChange(); } }, options.map(([value, label]) => h("option", { value, selected: filters[name] === value }, label)));
  return h(
    "div",
    { class: "filters" },
    h("label", { class: "field" }, "Time", select("since", Object.keys(SINCE).map((k) => [k, k === "all" ? "all time" : `last ${k}`]))),
    h("label", { class: "field" }, "Model", input("model", "any model")),
    h("label", { class: "field" }, "Status", select("status", [["", "any"], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["429", "429"], ["499", "499 (client left)"]])),
    h("label", { class: "field" }, "Dialect", select("dialect", [["", "any"], ["openai", "openai"], ["gemini", "gemini"], ["anthropic", "anthropic"]])),
    h("label", { class: "field" }, "Client", input("client", "client id")),
    h("label", { class: "field" }, "Credential", input("credential", "label or id")),
    h("label", { class: "check" }, h("input", { type: "checkbox", checked: filters.errors_only, onchange: (e) => { filters.errors_only = e.target.checked; onChange(); } }), "Errors only"),
  );
}

export async function render(main, [detailId]) {
  const tbody = h("tbody");
  const more = h("button", { class: "hidden" }, "Load older");
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
      h("td", { "data-label": "Time", class: "nowrap" }, when(r.received_at_ms)),
      h("td", { "data-label": "Status" }, statusBadge(r)),
      h("td", { "data-label": "Dialect" }, r.dialect),
      h("td", { "data-label": "Model", class: "mono" }, r.model || h("span", { class: "faint" }, `${r.method} ${r.path}`), r.stream ? h("span", { class: "badge info", style: { marginLeft: "6px" } }, "stream") : null),
      h("td", { "data-label": "Client", class: "mono" }, r.client_id || "–"),
      h("td", { "data-label": "Credential", class: "mono" }, r.credential || "–", r.attempts?.length > 1 ? h("span", { class: "badge warn", style: { marginLeft: "6px" }, title: "attempts" }, `×${r.attempts.length}`) : null),
      h("td", { "data-label": "Tokens", class: "num" }, tokensOf(r)),
      h("td", { "data-label": "Duration", class: "num" }, ms(r.duration_ms)),
    );
  }

  let latest = 0;
  async function load(reset = true) {
    const mine = ++latest; // an older answer arriving late must not replace a newer one
    try {
      const page = await api(`/api/logs${params(reset ? null : cursor)}`);
      if (!alive || mine !== latest) return;
      if (reset) {
        clear(tbody);
        shown = 0;
      }
      cursor = page.next_cursor;
      shown += page.items.length;
      tbody.append(...page.items.map(row));
      if (!shown) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No recorded request matches these filters.")));
      more.classList.toggle("hidden", !cursor);
      count.textContent = `${shown}${cursor ? "+" : ""} shown`;
    } catch (exc) {
      clear(tbody, h("tr", {}, h("td", { colspan: 8 }, h("div", { class: "notice warn" }, `Cannot read the record: ${exc.message}`))));
    }
  }
  let timer = null;
  const changed = (typing = false) => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), typing ? 300 : 0);
  };
  more.addEventListener("click", () => load(false));

  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Requests"), h("p", {}, "Every exchange the recorder stored, newest first. Click one for the whole story.")), h("button", { onclick: () => load(true) }, icon("refresh"), "Refresh")),
    h("section", { class: "card" }, filterForm(changed)),
    h(
      "section",
      { class: "card" },
      h("header", {}, h("h2", {}, "Exchanges"), count),
      h("div", { class: "table-wrap" }, h("table", { class: "cards requests-table" }, h("thead", {}, h("tr", {}, ["Time", "Status", "Dialect", "Model", "Client", "Credential", "Tokens", "Duration"].map((t, i) => h("th", { class: i >= 6 ? "num" : "" }, t)))), tbody)),
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
