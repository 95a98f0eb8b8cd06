// What the pool knows about one credential beyond its health: quota used / limit / reset per
// model, its last errors, its outbound proxy (masked, settable), the healer's next re-check, what
// its project holds, an AI Studio page's lock and queue or an executor tab's connection, and a Google
// account's tier (loadCodeAssist) with, for Antigravity, each model's remaining quota.
// Rendered by the Pool page (pages/pool.js): a compact line per row, the whole in a details row.
import { api } from "./api.js";
import { ago, duration, h, icon, modal, num, pct, saveInDialog, statusClass, toast, when } from "./dom.js";
import { t, tn } from "./i18n.js";
import { googleLoginDialog } from "./oauth-login.js";

// The pool's reason for a consumer account Code Assist refuses to Gemini CLI since 2026-06-18
// (oauth/tiers.py): the account is out of service until it signs in as Antigravity or gets a
// Standard / Enterprise licence, so the UI says that, not only Google's words.
const CONSUMER_REFUSED = "CONSUMER_TIER_UNSUPPORTED";
const ACCOUNT_KINDS = new Set(["oauth", "antigravity"]);

export function consumerRefused(c) {
  return Boolean(c.disabled_reason && c.disabled_reason.startsWith(CONSUMER_REFUSED));
}

const DIMENSIONS = ["rpm", "tpm", "rpd"];

// Models with something to show: a call counted or a limit known.
function quotaModels(quota) {
  return Object.entries(quota || {})
    .filter(([, dims]) => DIMENSIONS.some((d) => dims[d] && (dims[d].used || dims[d].limit !== null)))
    .sort(([a], [b]) => a.localeCompare(b));
}

function usedOf(dim) {
  return dim.limit === null ? num(dim.used) : `${num(dim.used)} / ${num(dim.limit)}`;
}

function tone(dim) {
  if (dim.limit === null || !dim.limit) return "";
  const share = dim.used / dim.limit;
  return share >= 1 ? "bad" : share >= 0.8 ? "warn" : "";
}

// The quota column: one line per model (the first three), each dimension "used / limit"; with
// `sayNone`, a word when nothing is counted (no cooldown beside it either).
export function quotaCell(c, sayNone = true) {
  const models = quotaModels(c.quota);
  if (!models.length) return sayNone ? h("span", { class: "faint" }, t("pool.quota.none")) : null;
  const lines = models.slice(0, 3).map(([model, dims]) =>
    h(
      "div",
      { class: "quota-line", dataset: { model } },
      h("span", { class: "mono quota-model" }, model),
      h(
        "span",
        { class: "quota-dims" },
        DIMENSIONS.filter((d) => dims[d].used || dims[d].limit !== null).map((d) =>
          h("span", { class: `quota-dim ${tone(dims[d])}`, dataset: { dim: d } }, `${t(`quota.${d}`)} ${usedOf(dims[d])}`),
        ),
      ),
    ),
  );
  if (models.length > 3) lines.push(h("div", { class: "cell-sub" }, t("pool.quota.more", { n: models.length - 3 })));
  return h("div", { class: "quota-cell" }, lines);
}

function sourceText(source) {
  if (!source) return null;
  if (source === "learned") return t("pool.quota.learned");
  return source.startsWith("tier:") ? t("pool.quota.tier", { tier: source.slice(5) }) : source;
}

function quotaPanel(c) {
  const models = quotaModels(c.quota);
  const head = h(
    "div",
    { class: "quota-grid-head" },
    h("span", {}, t("pool.quota.model")),
    DIMENSIONS.map((d) => h("span", {}, t(`pool.quota.${d}`))),
  );
  const rows = models.map(([model, dims]) =>
    h(
      "div",
      { class: "quota-grid-row", dataset: { model } },
      h("span", { class: "mono" }, model),
      DIMENSIONS.map((d) => {
        const dim = dims[d];
        return h(
          "span",
          { class: "quota-cellwide", dataset: { dim: d } },
          h("span", { class: "quota-dim-label cell-sub" }, t(`pool.quota.${d}`)),
          h("b", { class: tone(dim) }, usedOf(dim)),
          dim.limit === null ? h("span", { class: "cell-sub" }, t("pool.quota.noLimit")) : h("span", { class: "cell-sub" }, sourceText(dim.source)),
          dim.resets_in !== null && (dim.used || d === "rpd") ? h("span", { class: "cell-sub quota-reset" }, t("pool.quota.resetsIn", { when: duration(Math.max(0, dim.resets_in)) })) : null,
        );
      }),
    ),
  );
  return section(
    t("pool.quota.title"),
    models.length ? h("div", { class: "quota-grid" }, head, rows) : h("p", { class: "faint" }, t("pool.quota.empty")),
  );
}

function errorsPanel(c) {
  const errors = [...(c.errors || [])].reverse(); // newest first
  const list = errors.map((e) =>
    h(
      "li",
      { class: "error-line" },
      h(
        "div",
        { class: "row error-meta" },
        h("span", { class: "nowrap faint" }, when(e.time * 1000)),
        h("span", { class: `badge ${statusClass(e.status ?? 0)}` }, e.status === null || e.status === undefined ? "–" : String(e.status)),
        h("span", { class: "mono" }, e.model || "–"),
      ),
      h("div", { class: "error-text", lang: "en", title: e.error || "" }, e.error || ""),
    ),
  );
  return section(t("pool.errors.title"), list.length ? h("ul", { class: "error-list" }, list) : h("p", { class: "faint" }, t("pool.errors.empty")));
}

export function proxyText(c) {
  if (c.proxy) return t("pool.proxy.via", { proxy: c.proxy });
  return c.proxy_source === "setting" ? t("pool.proxy.direct") : null;
}

function proxyPanel(c, refresh) {
  const source = c.proxy_source ? t(`pool.proxy.source.${c.proxy_source}`) : null;
  return section(
    t("pool.proxy.title"),
    h("div", { class: "row" },
      h("span", { class: c.proxy ? "mono proxy-value" : "faint proxy-value" }, c.proxy || (c.proxy_source === "setting" ? t("pool.proxy.direct") : t("pool.proxy.none"))),
      source ? h("span", { class: "cell-sub" }, source) : null,
      c.proxy_settable ? h("button", { class: "small", name: "set_proxy", title: t("pool.proxy.button.title"), onclick: () => proxyDialog(c, refresh) }, t("pool.proxy.button")) : h("span", { class: "cell-sub" }, t("pool.proxy.notHere")),
    ),
  );
}

function holdsPanel(c) {
  const kinds = Object.entries(c.holds || {});
  if (!kinds.length) return section(t("pool.holds.title"), h("p", { class: "faint" }, t("pool.holds.empty")));
  return section(
    t("pool.holds.title"),
    h("ul", { class: "holds" }, kinds.map(([kind, held]) =>
      h("li", { dataset: { kind } }, h("b", { class: "mono" }, kind), " ", t("pool.holds.count", { n: num(held.count) }), h("div", { class: "mono cell-sub holds-names" }, held.names.join(" · "))),
    )),
  );
}

function pagePanel(c) {
  const meta = c.meta || {};
  if (c.kind === "aistudio") {
    const lock = meta.lock;
    const queue = meta.queue || [];
    return section(
      t("pool.page.title"),
      h("div", { class: "row" },
        h("span", { class: `badge ${lock ? "warn" : "ok"}` }, lock ? t("pool.page.locked", { when: duration(lock.for_seconds) }) : t("pool.page.free")),
        lock ? h("span", { class: "mono" }, lock.model || "") : null,
        h("span", { class: "cell-sub" }, tn("pool.page.queue", queue.length)),
      ),
      queue.length ? h("ul", { class: "holds" }, queue.map((q) => h("li", {}, `#${q.position} `, h("span", { class: "mono" }, q.model || ""), ` ${t("pool.page.waiting", { when: duration(q.waiting_seconds) })}`))) : null,
    );
  }
  if (c.kind === "executor") {
    return section(
      t("pool.executor.title"),
      h("div", { class: "cell-sub" }, t("pool.executor.facts", { since: ago(c.connected_since), beat: ago(c.last_heartbeat), served: num(c.tasks_served ?? 0), failed: num(c.tasks_failed ?? 0) })),
    );
  }
  return null;
}

function tierText(account) {
  const name = account.tier_name || account.tiers?.name;
  if (!name && !account.tier) return null;
  return name && account.tier && name !== account.tier ? `${name} (${account.tier})` : name || account.tier;
}

// The account's tier and what Code Assist refused it, and the models an Antigravity account may use
// with what is left of each one's quota and when it resets (fetchAvailableModels).
function accountPanel(c) {
  const account = c.account;
  if (!ACCOUNT_KINDS.has(c.kind) || !account) return null;
  const tiers = account.tiers;
  const tier = tierText(account);
  const facts = h(
    "div",
    { class: "row account-tier" },
    h("span", {}, t("pool.tier.label")),
    tier ? h("b", { class: "tier-name", lang: "en" }, tier) : h("span", { class: "faint" }, t("pool.tier.unknown")),
    tiers?.consumer ? h("span", { class: "badge warn" }, t("pool.tier.consumer")) : null,
  );
  const refused = (tiers?.ineligible || []).map((x) =>
    h("li", { class: "error-line" }, h("span", { class: "mono" }, `${x.tier || "–"} · ${x.reason}`), x.message ? h("div", { class: "error-text", lang: "en" }, x.message) : null),
  );
  const parts = [facts, refused.length ? h("div", { class: "cell-sub" }, t("pool.tier.ineligible")) : null, refused.length ? h("ul", { class: "error-list" }, refused) : null];
  if (c.kind === "antigravity") parts.push(modelsOf(account));
  return h("section", { class: "care wide account-care" }, h("h3", {}, t("pool.account.title")), parts);
}

function modelsOf(account) {
  const models = Object.entries(account.models || {}).sort(([a], [b]) => a.localeCompare(b));
  if (!models.length) return h("p", { class: "faint" }, account.models ? t("pool.models.none") : t("pool.models.notYet"));
  const now = Date.now() / 1000;
  const rows = models.map(([model, info]) => {
    const left = info.remaining_fraction;
    const tone = left === null || left === undefined ? "" : left <= 0 ? "bad" : left < 0.2 ? "warn" : "ok";
    const resets = info.reset_at ? Math.max(0, info.reset_at - now) : null;
    return h(
      "div",
      { class: "model-quota-row", dataset: { model } },
      h("span", { class: "mono", title: info.display_name || "" }, model),
      h("div", { class: "meter", role: "img", "aria-label": t("pool.models.left", { pct: pct(left) }) }, h("i", { style: { width: pct(left ?? 0), background: tone === "bad" ? "var(--bad)" : tone === "warn" ? "var(--warn)" : "var(--ok)" } })),
      h("b", { class: `model-left ${tone}` }, left === null || left === undefined ? t("pool.models.unknown") : t("pool.models.left", { pct: pct(left) })),
      h("span", { class: "cell-sub" }, resets === null ? "" : t("pool.quota.resetsIn", { when: duration(resets) })),
    );
  });
  return h(
    "div",
    { class: "stack model-quota" },
    h("div", { class: "cell-sub" }, t("pool.models.title", { when: ago(account.models_fetched_at) })),
    h("div", { class: "model-quota-grid" }, rows),
  );
}

// What an operator can do about a consumer account refused to Gemini CLI: sign it in as Antigravity
// (the same Google account, served again) or give it a Standard / Enterprise licence and Re-enable.
export function consumerNotice(c, refresh) {
  if (!consumerRefused(c)) return null;
  const tier = c.account ? tierText(c.account) : null;
  return h(
    "section",
    { class: "care wide notice warn consumer-notice", role: "note" },
    h("b", {}, t("pool.consumer.title")),
    h("p", {}, tier ? t("pool.consumer.what", { tier }) : t("pool.consumer.whatNoTier")),
    h("p", {}, t("pool.consumer.todo")),
    h("p", { class: "cell-sub consumer-reason", lang: "en" }, c.disabled_reason),
    h("div", { class: "row" }, h("button", { class: "small", name: "add_antigravity", onclick: () => googleLoginDialog(refresh, "antigravity") }, icon("user"), t("pool.addAntigravity"))),
  );
}

function section(title, ...children) {
  return h("section", { class: "care" }, h("h3", {}, title), children);
}

// A panel across both columns of the details row (quota, errors, the page or tab, the account).
function wide(panel) {
  panel?.classList.add("wide");
  return panel;
}

// The details row under a credential: every panel that applies to its kind.
export function detailPanels(c, refresh) {
  return h("div", { class: "care-panels", role: "region", "aria-label": t("pool.detail.title", { label: c.label }) }, consumerNotice(c, refresh), accountPanel(c), wide(quotaPanel(c)), wide(errorsPanel(c)), proxyPanel(c, refresh), holdsPanel(c), wide(pagePanel(c)));
}

// The healer's plan for a credential the gateway took out of service, under its health.
export function recheckText(c) {
  if (c.health !== "failed") return null;
  if (!c.rechecked) return t("pool.recheck.never");
  const parts = [c.next_check_in === null ? t("pool.recheck.pending") : t("pool.recheck.in", { when: duration(c.next_check_in) })];
  if (c.failed_checks) parts.push(tn("pool.recheck.failed", c.failed_checks));
  return parts.join(" · ");
}

export function proxyDialog(c, refresh) {
  modal((close) => {
    const input = h("input", { name: "credential_proxy", value: "", maxlength: 2048, autocomplete: "off", spellcheck: "false", placeholder: c.proxy || t("pool.proxy.placeholder"), "aria-label": t("pool.proxy.label") });
    const status = h("div", { role: "alert" });
    const buttons = [];
    const send = (proxy) =>
      saveInDialog({ buttons, status, input, close, refresh }, async () => {
        const row = await api(`/api/keys/${encodeURIComponent(c.id)}/proxy`, { method: "PUT", body: { proxy } });
        const shown = row.proxy || (row.proxy_source === "setting" ? t("pool.proxy.direct") : t("pool.proxy.none"));
        toast(t("pool.proxy.set", { label: c.label, proxy: shown }), "ok");
      });
    const direct = h("button", { type: "button", name: "proxy_direct", onclick: () => send("") }, t("pool.proxy.directButton"));
    const forget = c.proxy_source === "setting" ? h("button", { type: "button", name: "proxy_forget", onclick: () => send(null) }, t("pool.proxy.forget")) : null;
    const save = h("button", { class: "primary", type: "submit" }, icon("check"), t("common.save"));
    buttons.push(direct, save, ...(forget ? [forget] : []));
    return h(
      "form",
      {
        class: "stack",
        onsubmit: (event) => {
          event.preventDefault();
          if (input.value.trim()) send(input.value.trim());
          else input.focus();
        },
      },
      h("h2", {}, t("pool.proxy.dialog", { label: c.label })),
      h("p", { class: "muted", style: { margin: 0 } }, t("pool.proxy.lead")),
      h("label", { class: "field" }, t("pool.proxy.label"), input),
      status,
      h("footer", {}, forget, direct, h("button", { type: "button", onclick: close }, t("common.cancel")), save),
    );
  });
}
