// Pool: every credential with health, load, cooldowns and errors; add, import, validate, toggle, reset, remove.
// Google accounts (OAuth) are added through their login (../oauth-login.js); their project is set and
// they are removed through /api/oauth.
import { api } from "../api.js";
import { ago, clear, confirmDialog, duration, h, icon, modal, num, pct, toast } from "../dom.js";

const HEALTHS = ["ok", "cooling", "busy", "offline", "failed", "disabled"];
const filters = { kind: "", health: "", text: "" };
import { googleLoginDialog } from "../oauth-login.js";
import { rememberNames } from "../credentials.js";

const TONE = { ok: "ok", cooling: "warn", busy: "warn", offline: "bad", failed: "bad", disabled: "" };

function summaryChips(summary, strategy) {
  const chip = (label, value, tone = "") => h("span", { class: `badge ${tone}` }, `${value} ${label}`);
  return h(
    "div",
    { class: "row" },
    chip("credentials", summary.total, "accent"),
    chip("healthy", summary.ok, "ok"),
    summary.cooling ? chip("cooling", summary.cooling, "warn") : null,
    summary.failed ? chip("failed", summary.failed, "bad") : null,
    summary.disabled ? chip("disabled", summary.disabled) : null,
    chip("in flight", summary.in_flight, "info"),
    h("span", { class: "faint" }, `strategy: ${strategy.replace("_", " ")}`),
  );
}

function validationBadge(result) {
  if (!result) return null;
  const tone = result.valid === true ? "ok" : result.valid === false ? "bad" : "warn";
  const text = result.valid === true ? "valid" : result.valid === false ? "invalid" : "unchecked";
  return h("span", { class: `badge ${tone}`, title: result.message || "" }, text);
}

function addDialog(refresh) {
  modal((close) => {
    const area = h("textarea", { rows: 7, placeholder: "Paste one or many keys: one per line, or separated by commas or spaces. Lines starting with # are ignored.", "aria-label": "Keys" });
    const check = h("input", { type: "checkbox", checked: true });
    const status = h("div", { class: "muted" });
    const submit = h("button", { class: "primary", type: "submit" }, icon("plus"), "Add keys");
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
              status.textContent = "Validating with the upstream…";
              const checks = await Promise.all(result.added.map((c) => api(`/api/keys/${encodeURIComponent(c.id)}/validate`, { method: "POST" }).catch(() => null)));
              invalid = checks.filter((c) => c && c.valid === false).length;
            }
            const parts = [`${result.added.length} added`];
            if (result.existing.length) parts.push(`${result.existing.length} already in the pool`);
            if (result.rejected) parts.push(`${result.rejected} not key-shaped`);
            if (invalid) parts.push(`${invalid} rejected by the upstream`);
            toast(parts.join(" · "), invalid ? "warn" : "ok");
            close();
            refresh();
          } catch (exc) {
            status.textContent = exc.message;
            status.className = "notice bad";
          } finally {
            submit.disabled = false;
          }
        },
      },
      h("h2", {}, "Add API keys"),
      h("p", { class: "muted", style: { margin: 0 } }, "Keys are stored encrypted in the database and shown only masked from now on."),
      area,
      h("label", { class: "check" }, check, "Validate each key against the upstream after adding"),
      status,
      h("footer", {}, h("button", { type: "button", onclick: close }, "Cancel"), submit),
    );
    return form;
  });
}

async function importFile(file, refresh) {
  if (!file) return;
  try {
    const text = await file.text();
    const result = await api("/api/keys/import", { method: "POST", body: text, contentType: "text/plain" });
    toast(`${file.name}: ${result.added.length} added, ${result.existing.length} already present, ${result.rejected} skipped`, "ok");
    refresh();
  } catch (exc) {
    toast(`Import failed: ${exc.message}`, "bad");
  }
}

async function act(path, message, refresh, method = "POST") {
  try {
    const result = await api(path, { method });
    if (message) toast(typeof message === "function" ? message(result) : message, "ok");
    refresh();
    return result;
  } catch (exc) {
    toast(exc.message, "bad");
    return null;
  }
}

function removeAccountButton(c, refresh) {
  const origin = c.account.source === "store" ? null : c.account.origin;
  return h(
    "button",
    {
      class: "small danger",
      title: "Remove from the pool",
      "aria-label": "Remove",
      onclick: async () => {
        const ok = await confirmDialog(
          `Remove ${c.label}?`,
          origin
            ? `This account comes from ${origin}: it leaves the pool now but returns at the next start unless you remove it there. Disabling keeps it out for good.`
            : "The account and its tokens are deleted from the pool and from the database.",
          "Remove",
        );
        if (ok) await act(`/api/oauth/accounts/${encodeURIComponent(c.id)}`, `${c.label} removed`, refresh, "DELETE");
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
      placeholder: found ? `${found} (found automatically)` : "found or set up automatically",
      maxlength: 100,
      autocomplete: "off",
      spellcheck: "false",
      "aria-label": "Google Cloud project",
    });
    const status = h("div", { class: "hidden", role: "alert" });
    const save = h("button", { class: "primary", type: "submit" }, icon("check"), "Save");
    const automatic = account.project_explicit
      ? h("button", { type: "button", onclick: () => send(null) }, "Find it automatically")
      : null;
    async function send(projectId) {
      save.disabled = true;
      if (automatic) automatic.disabled = true;
      try {
        const row = await api(`/api/oauth/accounts/${encodeURIComponent(c.id)}`, { method: "PATCH", body: { project_id: projectId } });
        toast(projectId ? `${c.label}: project set to ${row.account.project}` : `${c.label}: the project is found again at its next call`, "ok");
        close();
        refresh();
      } catch (exc) {
        status.textContent = `Not saved: ${exc.message}`;
        status.className = "notice bad";
        input.focus();
      } finally {
        save.disabled = false;
        if (automatic) automatic.disabled = false;
      }
    }
    return h(
      "form",
      {
        class: "stack",
        onsubmit: (event) => {
          event.preventDefault();
          send(input.value.trim() || null);
        },
      },
      h("h2", {}, `Google Cloud project of ${c.label}`),
      h(
        "p",
        { class: "muted", style: { margin: 0 } },
        "This account's calls go to Code Assist in this project. Leave it empty to have it found, or a free one set up, the way Gemini CLI does.",
      ),
      h("label", { class: "field" }, "Project id", input),
      status,
      h("footer", {}, automatic, h("button", { type: "button", onclick: close }, "Cancel"), save),
    );
  });
}

function nameDialog(c, refresh) {
  modal((close) => {
    const input = h("input", { name: "credential_name", value: c.name || "", maxlength: 100, autocomplete: "off", "aria-label": "Name" });
    const status = h("div", { role: "alert" });
    return h(
      "form",
      {
        class: "stack",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            await api(`/api/keys/${encodeURIComponent(c.id)}`, { method: "PATCH", body: { name: input.value } });
            toast(input.value.trim() ? `${c.label} is now "${input.value.trim()}"` : `${c.label}: name removed`, "ok");
            close();
            refresh();
          } catch (exc) {
            status.textContent = exc.message;
            status.className = "notice bad";
          }
        },
      },
      h("h2", {}, `Name ${c.label}`),
      h("p", { class: "muted", style: { margin: 0 } }, "A name of yours, shown beside the masked key on every page. Leave it empty to remove it."),
      h("label", { class: "field" }, "Name", input),
      status,
      h("footer", {}, h("button", { type: "button", onclick: close }, "Cancel"), h("button", { class: "primary", type: "submit" }, icon("check"), "Save")),
    );
  });
}

function accountLine(account) {
  const project = account.project ? `project ${account.project}${account.project_explicit ? " (set by hand)" : ""}` : "project not found yet";
  const parts = [project, account.tier].filter(Boolean);
  return h("div", { class: "cell-sub" }, parts.join(" · "));
}

function credentialRow(c, refresh, selected) {
  const id = encodeURIComponent(c.id);
  const cooldowns = Object.entries(c.cooldowns);
  const account = c.kind === "oauth" ? c.account : null;
  const source = account ? account.source : c.source;
  const actions = h(
    "div",
    { class: "actions" },
    c.validatable
      ? h("button", { class: "small", onclick: () => act(`/api/keys/${id}/validate`, (r) => `${c.label}: ${r.message}`, refresh) }, "Validate")
      : null,
    // A credential the gateway failed (API_KEY_INVALID...) is enabled but out of service: Re-enable.
    c.enabled && c.health === "failed"
      ? h("button", { class: "small", title: "Clear the failure and put it back in service", onclick: () => act(`/api/keys/${id}/enable`, `${c.label} re-enabled`, refresh) }, "Re-enable")
      : null,
    c.enabled
      ? h("button", { class: "small", onclick: () => act(`/api/keys/${id}/disable`, `${c.label} disabled`, refresh) }, "Disable")
      : h("button", { class: "small", onclick: () => act(`/api/keys/${id}/enable`, `${c.label} enabled`, refresh) }, "Enable"),
    h("button", { class: "small", title: "Name this credential", onclick: () => nameDialog(c, refresh) }, "Name"),
    account ? h("button", { class: "small", title: "Set the Google Cloud project", onclick: () => projectDialog(c, refresh) }, "Project") : null,
    h("button", { class: "small", title: "Reset counters and cooldowns", "aria-label": "Reset", onclick: () => act(`/api/keys/${id}/reset`, `${c.label}: counters reset`, refresh) }, icon("refresh")),
    account ? removeAccountButton(c, refresh) : c.source === "runtime" ? null : h(
      "button",
      {
        class: "small danger",
        title: "Remove from the pool",
        "aria-label": "Remove",
        onclick: async () => {
          const env = c.source === "env";
          const ok = await confirmDialog(
            `Remove ${c.label}?`,
            env
              ? "This key comes from GEMINI_API_KEYS: it leaves the pool now but returns at the next start unless you remove it there. Disabling keeps it out for good."
              : "The key is deleted from the pool and from the database.",
            "Remove",
          );
          if (ok) {
            const result = await act(`/api/keys/${id}`, `${c.label} removed`, refresh, "DELETE");
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
    { dataset: { id: c.id } },
    h(
      "td",
      { class: "wide" },
      h(
        "div",
        { class: "row", style: { gap: "8px" } },
        h("input", { type: "checkbox", class: "select", "aria-label": `Select ${c.label}`, checked: selected.has(c.id), onchange: (e) => { if (e.target.checked) selected.add(c.id); else selected.delete(c.id); } }),
        h("span", { class: `dot ${TONE[c.health] ?? ""}`, title: c.health }),
        c.name ? h("span", { class: "cell-main cred-name" }, c.name) : null,
        h("span", { class: c.name ? "mono faint" : "cell-main mono" }, c.label),
      ),
      h("div", { class: "row", style: { gap: "6px", marginTop: "4px" } }, h("span", { class: "badge" }, c.kind), h("span", { class: `badge ${source === "stored" || source === "store" ? "accent" : ""}` }, source), validationBadge(c.validation)),
      account ? accountLine(account) : null,
    ),
    h(
      "td",
      { "data-label": "Health" },
      h("span", { class: `badge ${TONE[c.health] ?? ""}` }, c.health),
      h("div", { class: "cell-sub nowrap" }, `${num(c.in_flight)}${c.max_concurrency ? ` / ${c.max_concurrency}` : ""} in flight`),
      c.disabled_reason ? h("div", { class: "cell-sub" }, c.disabled_reason) : null,
    ),
    h(
      "td",
      { "data-label": "Success rate" },
      h("div", { class: "row", style: { gap: "8px", flexWrap: "nowrap" } }, h("div", { class: "meter grow" }, h("i", { style: { width: pct(c.success_rate ?? 0), background: (c.success_rate ?? 1) < 0.8 ? "var(--warn)" : "var(--ok)" } })), h("span", { class: "nowrap" }, total ? pct(c.success_rate) : "–")),
      h("div", { class: "cell-sub" }, `${num(c.successes)} ok · ${num(c.failures)} failed`),
    ),
    h("td", { "data-label": "Cooldowns" }, cooldowns.length ? h("div", { class: "chips" }, cooldowns.map(([model, left]) => h("span", { class: "badge warn", title: `cooling for ${model}` }, `${model === "*" ? "all models" : model} · ${duration(left)}`))) : h("span", { class: "faint" }, "none")),
    h("td", { "data-label": "Last error", class: "wide" }, c.last_error ? h("div", { class: "truncate cell-sub", title: c.last_error }, c.last_error) : h("span", { class: "faint" }, "–"), h("div", { class: "cell-sub" }, `used ${ago(c.last_used)}`)),
    h("td", { class: "wide" }, actions),
  );
}

export async function render(main) {
  const fileInput = h("input", { type: "file", accept: ".txt,.csv,.env,text/plain", class: "hidden", onchange: () => { importFile(fileInput.files[0], refresh); fileInput.value = ""; } });
  const head = h(
    "div",
    { class: "page-head" },
    h("div", {}, h("h1", {}, "Pool"), h("p", {}, "Upstream credentials, their health and load. Secrets are never shown in full.")),
    h(
      "div",
      { class: "row" },
      h("button", { onclick: () => act("/api/keys/reset", (r) => `Counters reset on ${r.reset} credentials`, refresh) }, icon("refresh"), "Reset all counters"),
      h("button", { onclick: () => fileInput.click() }, icon("upload"), "Import file"),
      h("button", { onclick: () => googleLoginDialog(refresh) }, icon("user"), "Add Google account"),
      h("button", { class: "primary", onclick: () => addDialog(refresh) }, icon("plus"), "Add keys"),
      fileInput,
    ),
  );
  const summary = h("div");
  const selected = new Set();
  let rows = [];
  const kindSelect = h("select", { name: "kind", "aria-label": "Kind", onchange: (e) => { filters.kind = e.target.value; draw(); } });
  const healthSelect = h("select", { name: "health", "aria-label": "Health", onchange: (e) => { filters.health = e.target.value; draw(); } }, h("option", { value: "" }, "any health"), HEALTHS.map((x) => h("option", { value: x, selected: filters.health === x }, x)));
  const textFilter = h("input", { name: "filter", type: "search", placeholder: "name or key ending", value: filters.text, "aria-label": "Filter by name", oninput: (e) => { filters.text = e.target.value.trim().toLowerCase(); draw(); } });
  const chosen = () => shown().filter((c) => selected.has(c.id));
  async function bulk(label, path, method = "POST") {
    const list = chosen();
    if (!list.length) return toast("Select credentials first (the boxes at the start of each row).", "warn");
    if (method === "DELETE" && !(await confirmDialog(`Delete ${list.length} credentials?`, "Stored keys are deleted from the database; keys from GEMINI_API_KEYS return at the next start.", "Delete"))) return;
    let done = 0;
    for (const c of list) {
      if (method === "DELETE" && (c.kind === "oauth" || c.source === "runtime")) continue;
      try {
        await api(path(c), { method });
        done += 1;
      } catch (exc) {
        toast(`${c.label}: ${exc.message}`, "bad");
      }
    }
    if (method === "DELETE") selected.clear();
    toast(`${label}: ${done} of ${list.length}`, "ok");
    refresh();
  }
  async function validateAll() {
    const list = rows.filter((c) => c.validatable);
    const results = await Promise.all(list.map((c) => api(`/api/keys/${encodeURIComponent(c.id)}/validate`, { method: "POST" }).catch(() => null)));
    const valid = results.filter((r) => r && r.valid === true).length;
    toast(`Validated ${list.length}: ${valid} valid, ${list.length - valid} not`, valid === list.length ? "ok" : "warn");
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
    h("input", { type: "checkbox", "aria-label": "Select all shown", onchange: (e) => { for (const c of shown()) if (e.target.checked) selected.add(c.id); else selected.delete(c.id); draw(); } }),
    kindSelect,
    healthSelect,
    h("div", { class: "grow", style: { minWidth: "160px" } }, textFilter),
    h("button", { class: "small", onclick: validateAll }, "Validate all"),
    h("button", { class: "small", onclick: () => bulk("Enabled", (c) => `/api/keys/${enc(c)}/enable`) }, "Enable selected"),
    h("button", { class: "small", onclick: () => bulk("Disabled", (c) => `/api/keys/${enc(c)}/disable`) }, "Disable selected"),
    h("button", { class: "small danger", onclick: () => bulk("Deleted", (c) => `/api/keys/${enc(c)}`, "DELETE") }, "Delete selected"),
    h("button", { class: "small", onclick: exportFile }, "Export"),
  );
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "cards pool-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Credential"), h("th", {}, "Health"), h("th", {}, "Success rate"), h("th", {}, "Cooldowns"), h("th", {}, "Last error"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
    tbody,
  );
  const card = h("section", { class: "card" }, h("header", {}, summary), tools, h("div", { class: "table-wrap" }, table));
  main.append(head, card);

  function shown() {
    return rows.filter((c) => (!filters.kind || c.kind === filters.kind) && (!filters.health || c.health === filters.health) && (!filters.text || `${c.name || ""} ${c.label}`.toLowerCase().includes(filters.text)));
  }
  function draw() {
    if (!rows.length) {
      clear(tbody, h("tr", {}, h("td", { colspan: 6, class: "empty" }, "The pool is empty. Add keys or a Google account to start serving.")));
      return;
    }
    const list = shown();
    clear(tbody, list.length ? list.map((c) => credentialRow(c, refresh, selected)) : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No credential matches these filters.")));
  }

  let alive = true;
  async function refresh() {
    const data = await api("/api/keys");
    if (!alive) return;
    rows = data.credentials;
    rememberNames(rows);
    clear(summary, summaryChips(data.summary, data.strategy));
    const kinds = [...new Set(rows.map((c) => c.kind))];
    clear(kindSelect, h("option", { value: "" }, "any kind"), kinds.map((k) => h("option", { value: k, selected: filters.kind === k }, k)));
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
