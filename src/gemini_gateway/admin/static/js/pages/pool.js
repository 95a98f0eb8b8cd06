// Pool: every credential with health, load, cooldowns and errors; add, import, validate, toggle, reset, remove.
// Google accounts (OAuth) are added through their login (../oauth-login.js); their project is set and
// they are removed through /api/oauth.
import { api } from "../api.js";
import { ago, clear, confirmDialog, duration, h, icon, modal, num, pct, saveInDialog, toast } from "../dom.js";

const HEALTHS = ["ok", "cooling", "busy", "offline", "failed", "disabled"];
const filters = { kind: "", health: "", text: "" };
const expanded = new Set(); // ids whose details row is open, kept across the 5 s redraws
import { googleLoginDialog } from "../oauth-login.js";
import { rememberNames } from "../credentials.js";
import { t, tn, tv } from "../i18n.js";
import { consumerRefused, detailPanels, proxyText, quotaCell, recheckText } from "../pool-care.js";

const COLUMNS = 6;
const TONE = { ok: "ok", cooling: "warn", busy: "warn", offline: "bad", failed: "bad", disabled: "" };

function summaryChips(summary, strategy) {
  const chip = (key, value, tone = "") => h("span", { class: `badge ${tone}` }, t(key, { n: value }));
  return h(
    "div",
    { class: "row" },
    chip("pool.chip.total", summary.total, "accent"),
    chip("pool.chip.ok", summary.ok, "ok"),
    summary.cooling ? chip("pool.chip.cooling", summary.cooling, "warn") : null,
    summary.failed ? chip("pool.chip.failed", summary.failed, "bad") : null,
    summary.disabled ? chip("pool.chip.disabled", summary.disabled) : null,
    chip("common.inFlight", summary.in_flight, "info"),
    h("span", { class: "faint" }, t("pool.strategy", { strategy: tv("strategy", strategy) })),
  );
}

function validationBadge(result) {
  if (!result) return null;
  const tone = result.valid === true ? "ok" : result.valid === false ? "bad" : "warn";
  const text = result.valid === true ? t("pool.valid") : result.valid === false ? t("pool.invalid") : t("pool.unchecked");
  return h("span", { class: `badge ${tone}`, title: result.message || "" }, text);
}

function addDialog(refresh) {
  modal((close) => {
    const area = h("textarea", { rows: 7, placeholder: t("pool.add.placeholder"), "aria-label": t("pool.add.keys") });
    const check = h("input", { type: "checkbox", checked: true });
    const status = h("div", { class: "muted" });
    const submit = h("button", { class: "primary", type: "submit" }, icon("plus"), t("pool.addKeys"));
    const form = h(
      "form",
      {
        class: "stack",
        onsubmit: async (event) => {
          event.preventDefault();
          submit.disabled = true;
          try {
            const result = await api("/api/keys", { method: "POST", body: { keys: area.value } });
            area.value = "";
            let invalid = 0;
            if (check.checked) {
              status.textContent = t("pool.add.validating");
              const checks = await Promise.all(result.added.map((c) => api(`/api/keys/${encodeURIComponent(c.id)}/validate`, { method: "POST" }).catch(() => null)));
              invalid = checks.filter((c) => c && c.valid === false).length;
            }
            const parts = [t("pool.add.added", { n: result.added.length })];
            if (result.existing.length) parts.push(t("pool.add.existing", { n: result.existing.length }));
            if (result.rejected) parts.push(t("pool.add.rejected", { n: result.rejected }));
            if (invalid) parts.push(t("pool.add.invalid", { n: invalid }));
            toast(parts.join(" · "), invalid ? "warn" : "ok");
            close();
            refresh();
          } catch (exc) {
            status.textContent = t("app.failed", { message: exc.message });
            status.className = "notice bad";
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("h2", {}, t("pool.add.title")),
      h("p", { class: "muted", style: { margin: 0 } }, t("pool.add.lead")),
      area,
      h("label", { class: "check" }, check, t("pool.add.validate")),
      status,
      h("footer", {}, h("button", { type: "button", onclick: close }, t("common.cancel")), submit),
    );
    return form;
  });
}

// A file the Export button wrote: a JSON list of { id, name, enabled, ... } and no key.
function exportedList(text) {
  if (!/^\s*\[/.test(text)) return null;
  try {
    const data = JSON.parse(text);
    return Array.isArray(data) && data.length && data.every((c) => c && typeof c === "object" && typeof c.id === "string") ? data : null;
  } catch {
    return null;
  }
}

// Names and enabled states of an export put back on the credentials still in the pool.
async function restoreExport(list, refresh) {
  // the pool as it is now, not as the page last drew it
  const present = new Map((await api("/api/keys")).credentials.map((c) => [c.id, c]));
  let restored = 0;
  let missing = 0;
  for (const entry of list) {
    const c = present.get(entry.id);
    if (!c) {
      missing += 1;
      continue;
    }
    const id = encodeURIComponent(c.id);
    if ((entry.name || null) !== (c.name || null)) await api(`/api/keys/${id}`, { method: "PATCH", body: { name: entry.name || null } });
    if (typeof entry.enabled === "boolean" && entry.enabled !== c.enabled) await api(`/api/keys/${id}/${entry.enabled ? "enable" : "disable"}`, { method: "POST" });
    restored += 1;
  }
  toast(t("pool.import.restored", { n: restored, missing }), missing ? "warn" : "ok");
  refresh();
}

async function importFile(file, refresh) {
  if (!file) return;
  try {
    const text = await file.text();
    const exported = exportedList(text);
    if (exported) return await restoreExport(exported, refresh);
    const result = await api("/api/keys/import", { method: "POST", body: text, contentType: "text/plain" });
    toast(t("pool.import.done", { file: file.name, added: result.added.length, existing: result.existing.length, skipped: result.rejected }), "ok");
    refresh();
  } catch (exc) {
    toast(t("pool.import.failed", { message: exc.message }), "bad");
  }
}

async function act(path, message, refresh, method = "POST") {
  try {
    const result = await api(path, { method });
    if (message) toast(typeof message === "function" ? message(result) : message, "ok");
    refresh();
    return result;
  } catch (exc) {
    toast(t("app.failed", { message: exc.message }), "bad");
    return null;
  }
}

function removeAccountButton(c, refresh) {
  const origin = c.account.source === "store" ? null : c.account.origin;
  return h(
    "button",
    {
      class: "small danger",
      title: t("pool.remove.title"),
      "aria-label": t("pool.remove"),
      onclick: async () => {
        const ok = await confirmDialog(
          t("pool.remove.confirm", { label: c.label }),
          origin ? t("pool.remove.accountFrom", { origin }) : t("pool.remove.account"),
          t("pool.remove"),
        );
        if (ok) await act(`/api/oauth/accounts/${encodeURIComponent(c.id)}`, t("pool.removed", { label: c.label }), refresh, "DELETE");
      },
    },
    icon("trash"),
  );
}

// The Google Cloud project an account's calls go to: one typed here wins over the one Code Assist
// finds (or sets up); emptied, the gateway finds it again at the account's next call.
function projectDialog(c, refresh) {
  const account = c.account;
  modal((close) => {
    const found = account.project && !account.project_explicit ? account.project : null;
    const input = h("input", {
      name: "project_id",
      value: account.project_explicit ? account.project : "",
      placeholder: found ? t("pool.project.found", { project: found }) : t("pool.project.auto"),
      maxlength: 100,
      autocomplete: "off",
      spellcheck: "false",
      "aria-label": t("pool.project.label"),
    });
    const status = h("div", { class: "hidden", role: "alert" });
    const save = h("button", { class: "primary", type: "submit" }, icon("check"), t("common.save"));
    const automatic = account.project_explicit
      ? h("button", { type: "button", onclick: () => send(null) }, t("pool.project.findAuto"))
      : null;
    const send = (projectId) =>
      saveInDialog({ buttons: [save, automatic], status, input, close, refresh }, async () => {
        const row = await api(`/api/oauth/accounts/${encodeURIComponent(c.id)}`, { method: "PATCH", body: { project_id: projectId } });
        toast(projectId ? t("pool.project.set", { label: c.label, project: row.account.project }) : t("pool.project.cleared", { label: c.label }), "ok");
      });
    return h(
      "form",
      {
        class: "stack",
        onsubmit: (event) => {
          event.preventDefault();
          send(input.value.trim() || null);
        },
      },
      h("h2", {}, t("pool.project.title", { label: c.label })),
      h("p", { class: "muted", style: { margin: 0 } }, t("pool.project.lead")),
      h("label", { class: "field" }, t("pool.project.id"), input),
      status,
      h("footer", {}, automatic, h("button", { type: "button", onclick: close }, t("common.cancel")), save),
    );
  });
}

function nameDialog(c, refresh) {
  modal((close) => {
    const input = h("input", { name: "credential_name", value: c.name || "", maxlength: 100, autocomplete: "off", "aria-label": t("pool.name.label") });
    const status = h("div", { role: "alert" });
    return h(
      "form",
      {
        class: "stack",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            await api(`/api/keys/${encodeURIComponent(c.id)}`, { method: "PATCH", body: { name: input.value } });
            toast(input.value.trim() ? t("pool.name.set", { label: c.label, name: input.value.trim() }) : t("pool.name.removed", { label: c.label }), "ok");
            close();
            refresh();
          } catch (exc) {
            status.textContent = t("common.notSaved", { message: exc.message });
            status.className = "notice bad";
          }
        },
      },
      h("h2", {}, t("pool.name.title", { label: c.label })),
      h("p", { class: "muted", style: { margin: 0 } }, t("pool.name.lead")),
      h("label", { class: "field" }, t("pool.name.label"), input),
      status,
      h("footer", {}, h("button", { type: "button", onclick: close }, t("common.cancel")), h("button", { class: "primary", type: "submit" }, icon("check"), t("common.save"))),
    );
  });
}

function accountLine(account) {
  const project = account.project ? t(account.project_explicit ? "pool.account.projectSet" : "pool.account.project", { project: account.project }) : t("pool.account.noProject");
  const parts = [project, account.tier].filter(Boolean);
  return h("div", { class: "cell-sub" }, parts.join(" · "));
}

function credentialRow(c, refresh, selected, toggle) {
  const id = encodeURIComponent(c.id);
  const cooldowns = Object.entries(c.cooldowns);
  // Google accounts: Gemini CLI ("oauth") and Antigravity ones, both managed through /api/oauth.
  const account = c.kind === "oauth" || c.kind === "antigravity" ? c.account : null;
  const source = account ? account.source : c.source;
  const actions = h(
    "div",
    { class: "actions" },
    c.validatable
      ? h("button", { class: "small", onclick: () => act(`/api/keys/${id}/validate`, (r) => `${c.label}: ${r.message}`, refresh) }, t("pool.validate"))
      : null,
    // A credential the gateway failed (API_KEY_INVALID...) is enabled but out of service: Re-enable.
    c.enabled && c.health === "failed"
      ? h("button", { class: "small", title: t("pool.reenable.title"), onclick: () => act(`/api/keys/${id}/enable`, t("pool.reenabled", { label: c.label }), refresh) }, t("pool.reenable"))
      : null,
    c.enabled
      ? h("button", { class: "small", onclick: () => act(`/api/keys/${id}/disable`, t("pool.disabledToast", { label: c.label }), refresh) }, t("pool.disable"))
      : h("button", { class: "small", onclick: () => act(`/api/keys/${id}/enable`, t("pool.enabledToast", { label: c.label }), refresh) }, t("pool.enable")),
    h("button", { class: "small", title: t("pool.name.button.title"), onclick: () => nameDialog(c, refresh) }, t("pool.name.button")),
    account ? h("button", { class: "small", title: t("pool.project.button.title"), onclick: () => projectDialog(c, refresh) }, t("pool.project.button")) : null,
    h("button", { class: "small details-toggle", "aria-expanded": expanded.has(c.id) ? "true" : "false", "aria-controls": `care-${c.id}`, onclick: () => toggle(c.id) }, t("pool.detail.button")),
    h("button", { class: "small", title: t("pool.reset.title"), "aria-label": t("pool.reset"), onclick: () => act(`/api/keys/${id}/reset`, t("pool.resetToast", { label: c.label }), refresh) }, icon("refresh")),
    account ? removeAccountButton(c, refresh) : c.source === "runtime" ? null : h(
      "button",
      {
        class: "small danger",
        title: t("pool.remove.title"),
        "aria-label": t("pool.remove"),
        onclick: async () => {
          const env = c.source === "env";
          const ok = await confirmDialog(t("pool.remove.confirm", { label: c.label }), env ? t("pool.remove.keyEnv") : t("pool.remove.key"), t("pool.remove"));
          if (ok) {
            const result = await act(`/api/keys/${id}`, t("pool.removed", { label: c.label }), refresh, "DELETE");
            if (result?.note) toast(result.note, "warn");
          }
        },
      },
      icon("trash"),
    ),
  );
  const total = c.successes + c.failures;
  return h(
    "tr",
    { dataset: { id: c.id }, class: expanded.has(c.id) ? "open" : null },
    h(
      "td",
      { class: "wide" },
      h(
        "div",
        { class: "row", style: { gap: "8px" } },
        h("input", { type: "checkbox", class: "select", "aria-label": t("pool.select", { label: c.label }), checked: selected.has(c.id), onchange: (e) => { if (e.target.checked) selected.add(c.id); else selected.delete(c.id); } }),
        h("span", { class: `dot ${TONE[c.health] ?? ""}`, title: tv("health", c.health) }),
        c.name ? h("span", { class: "cell-main cred-name" }, c.name) : null,
        h("span", { class: c.name ? "mono faint" : "cell-main mono" }, c.label),
      ),
      h("div", { class: "row", style: { gap: "6px", marginTop: "4px" } }, h("span", { class: "badge" }, tv("kind", c.kind)), h("span", { class: `badge ${source === "stored" || source === "store" ? "accent" : ""}` }, tv("source", source)), validationBadge(c.validation)),
      account ? accountLine(account) : null,
      proxyText(c) ? h("div", { class: "cell-sub proxy-line" }, proxyText(c)) : null,
    ),
    h(
      "td",
      { "data-label": t("pool.col.health") },
      h("span", { class: `badge ${TONE[c.health] ?? ""}` }, tv("health", c.health)),
      h("div", { class: "cell-sub nowrap" }, t("common.inFlight", { n: `${num(c.in_flight)}${c.max_concurrency ? ` / ${c.max_concurrency}` : ""}` })),
      // A consumer account's reason is long (Google's words and what to do): its details hold it.
      consumerRefused(c)
        ? h("div", { class: "cell-sub consumer-short", title: c.disabled_reason }, t("pool.consumer.short"))
        : c.disabled_reason ? h("div", { class: "cell-sub", lang: "en" }, c.disabled_reason) : null,
      recheckText(c) ? h("div", { class: "cell-sub recheck" }, recheckText(c)) : null,
    ),
    h(
      "td",
      { "data-label": t("pool.col.success") },
      h("div", { class: "row", style: { gap: "8px", flexWrap: "nowrap" } }, h("div", { class: "meter grow" }, h("i", { style: { width: pct(c.success_rate ?? 0), background: (c.success_rate ?? 1) < 0.8 ? "var(--warn)" : "var(--ok)" } })), h("span", { class: "nowrap" }, total ? pct(c.success_rate) : "–")),
      h("div", { class: "cell-sub" }, t("common.okFailed", { ok: num(c.successes), failed: num(c.failures) })),
    ),
    // Cooldowns and quota side by side: both are per model, and say when a model can be used again.
    h(
      "td",
      { "data-label": t("pool.col.quota"), class: "quota" },
      cooldowns.length ? h("div", { class: "chips cooldowns" }, cooldowns.map(([model, left]) => h("span", { class: "badge warn", title: t("pool.coolingFor", { model }) }, `${model === "*" ? t("pool.allModels") : model} · ${duration(left)}`))) : null,
      quotaCell(c, cooldowns.length === 0),
    ),
    h("td", { "data-label": t("pool.col.lastError"), class: "wide" }, c.last_error ? h("div", { class: "truncate cell-sub", title: c.last_error, lang: "en" }, c.last_error) : h("span", { class: "faint" }, "–"), h("div", { class: "cell-sub" }, t("pool.used", { when: ago(c.last_used) })), c.errors?.length ? h("div", { class: "cell-sub" }, tn("pool.errors.count", c.errors.length)) : null),
    h("td", { class: "wide" }, actions),
  );
}

export async function render(main) {
  const fileInput = h("input", { type: "file", class: "hidden", name: "import_keys", accept: ".txt,.csv,.env,.json,text/plain,application/json", onchange: () => { importFile(fileInput.files[0], refresh); fileInput.value = ""; } });
  const head = h(
    "div",
    { class: "page-head" },
    h("div", {}, h("h1", {}, t("nav.pool")), h("p", {}, t("pool.lead"))),
    h(
      "div",
      { class: "row" },
      h("button", { onclick: () => act("/api/keys/reset", (r) => t("pool.resetAllToast", { n: r.reset }), refresh) }, icon("refresh"), t("pool.resetAll")),
      h("button", { onclick: () => fileInput.click() }, icon("upload"), t("pool.importFile")),
      h("button", { onclick: () => (location.hash = "#/welcome") }, icon("upload"), t("pool.importPeers")),
      h("button", { onclick: () => googleLoginDialog(refresh) }, icon("user"), t("pool.addGoogle")),
      h("button", { name: "add_antigravity", onclick: () => googleLoginDialog(refresh, "antigravity") }, icon("user"), t("pool.addAntigravity")),
      h("button", { class: "primary", onclick: () => addDialog(refresh) }, icon("plus"), t("pool.addKeys")),
      fileInput,
    ),
  );
  const summary = h("div");
  const selected = new Set();
  let rows = [];
  const kindSelect = h("select", { name: "kind", "aria-label": t("pool.filter.kind"), onchange: (e) => { filters.kind = e.target.value; draw(); } });
  const healthSelect = h("select", { name: "health", "aria-label": t("pool.col.health"), onchange: (e) => { filters.health = e.target.value; draw(); } }, h("option", { value: "" }, t("pool.filter.anyHealth")), HEALTHS.map((x) => h("option", { value: x, selected: filters.health === x }, tv("health", x))));
  const textFilter = h("input", { name: "filter", type: "search", placeholder: t("pool.filter.text"), value: filters.text, "aria-label": t("pool.filter.textLabel"), oninput: (e) => { filters.text = e.target.value.trim().toLowerCase(); draw(); } });
  const chosen = () => shown().filter((c) => selected.has(c.id));
  async function bulk(label, path, method = "POST") {
    const list = chosen();
    if (!list.length) return toast(t("pool.bulk.none"), "warn");
    if (method === "DELETE" && !(await confirmDialog(tn("pool.bulk.deleteConfirm", list.length), t("pool.bulk.deleteText"), t("common.delete")))) return;
    let done = 0;
    for (const c of list) {
      if (method === "DELETE" && (c.kind === "oauth" || c.kind === "antigravity" || c.source === "runtime")) continue;
      try {
        await api(path(c), { method });
        done += 1;
      } catch (exc) {
        toast(t("app.failed", { message: `${c.label}: ${exc.message}` }), "bad");
      }
    }
    if (method === "DELETE") selected.clear();
    toast(t(label, { done, n: list.length }), "ok");
    refresh();
  }
  async function validateAll() {
    const list = rows.filter((c) => c.validatable);
    const results = await Promise.all(list.map((c) => api(`/api/keys/${encodeURIComponent(c.id)}/validate`, { method: "POST" }).catch(() => null)));
    const valid = results.filter((r) => r && r.valid === true).length;
    toast(t("pool.validatedAll", { n: list.length, valid, invalid: list.length - valid }), valid === list.length ? "ok" : "warn");
    refresh();
  }
  function exportFile() {
    // Names and states, never secrets: keys are only ever shown masked.
    const data = rows.map((c) => ({ id: c.id, kind: c.kind, label: c.label, name: c.name, source: c.source, enabled: c.enabled, health: c.health }));
    const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    const link = h("a", { href: url, download: "gemini-gateway-pool.json" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  const enc = (c) => encodeURIComponent(c.id);
  const tools = h(
    "div",
    { class: "row pool-tools" },
    h("input", { type: "checkbox", "aria-label": t("pool.selectAll"), onchange: (e) => { for (const c of shown()) if (e.target.checked) selected.add(c.id); else selected.delete(c.id); draw(); } }),
    kindSelect,
    healthSelect,
    h("div", { class: "grow", style: { minWidth: "160px" } }, textFilter),
    h("button", { class: "small", onclick: validateAll }, t("pool.validateAll")),
    h("button", { class: "small", onclick: () => bulk("pool.bulk.enabled", (c) => `/api/keys/${enc(c)}/enable`) }, t("pool.enableSelected")),
    h("button", { class: "small", onclick: () => bulk("pool.bulk.disabled", (c) => `/api/keys/${enc(c)}/disable`) }, t("pool.disableSelected")),
    h("button", { class: "small danger", onclick: () => bulk("pool.bulk.deleted", (c) => `/api/keys/${enc(c)}`, "DELETE") }, t("pool.deleteSelected")),
    h("button", { class: "small", onclick: exportFile }, t("pool.export")),
  );
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "cards pool-table" },
    h("thead", {}, h("tr", {}, h("th", {}, t("pool.col.credential")), h("th", {}, t("pool.col.health")), h("th", {}, t("pool.col.success")), h("th", {}, t("pool.col.quota")), h("th", {}, t("pool.col.lastError")), h("th", {}, h("span", { class: "sr-only" }, t("common.actions"))))),
    tbody,
  );
  const card = h("section", { class: "card" }, h("header", {}, summary), tools, h("div", { class: "table-wrap" }, table));
  main.append(head, card);

  function shown() {
    return rows.filter((c) => (!filters.kind || c.kind === filters.kind) && (!filters.health || c.health === filters.health) && (!filters.text || `${c.name || ""} ${c.label}`.toLowerCase().includes(filters.text)));
  }
  function toggle(id) {
    if (expanded.has(id)) expanded.delete(id);
    else expanded.add(id);
    draw();
    // the redraw replaced the button: give the focus to the new one
    tbody.querySelector(`tr[data-id="${CSS.escape(id)}"] .details-toggle`)?.focus();
  }
  function draw() {
    if (!rows.length) {
      clear(tbody, h("tr", {}, h("td", { colspan: COLUMNS, class: "empty" }, t("pool.empty"), " ", h("a", { href: "#/welcome" }, t("dash.getStarted")))));
      return;
    }
    const list = shown();
    const row = (c) => [
      credentialRow(c, refresh, selected, toggle),
      expanded.has(c.id)
        ? h("tr", { class: "care-row", id: `care-${c.id}`, dataset: { detailFor: c.id } }, h("td", { colspan: COLUMNS, class: "wide" }, detailPanels(c, refresh)))
        : null,
    ];
    clear(tbody, list.length ? list.map(row) : h("tr", {}, h("td", { colspan: COLUMNS, class: "empty" }, t("pool.noMatch"))));
  }

  let alive = true;
  async function refresh() {
    const data = await api("/api/keys");
    if (!alive) return;
    rows = data.credentials;
    rememberNames(rows);
    clear(summary, summaryChips(data.summary, data.strategy));
    const kinds = [...new Set(rows.map((c) => c.kind))];
    clear(kindSelect, h("option", { value: "" }, t("pool.filter.anyKind")), kinds.map((k) => h("option", { value: k, selected: filters.kind === k }, tv("kind", k))));
    draw();
  }
  await refresh();
  const timer = setInterval(() => {
    // Not while a dialog is open or a row has focus: a redraw would take the focus away.
    if (!document.querySelector(".overlay") && !tbody.contains(document.activeElement)) refresh().catch(() => {});
  }, 5000);
  return () => {
    alive = false;
    clearInterval(timer);
  };
}
