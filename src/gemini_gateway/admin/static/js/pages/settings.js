// Settings: every setting with its value and source; edits are validated, stored, applied and audited.
import { api } from "../api.js";
import { clear, confirmDialog, h, switchInput, toast, when } from "../dom.js";
import { t, tn, tv } from "../i18n.js";

const SOURCE_TONE = { default: "", env: "info", stored: "accent" };

function show(value) {
  if (value === null || value === undefined) return t("set.notSet");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function schemaType(schema) {
  if (schema.enum) return "enum";
  if (schema.anyOf) {
    const inner = schema.anyOf.find((s) => s.type !== "null") || {};
    return inner.enum ? "enum" : inner.type === "array" ? "array" : inner.type === "object" ? "object" : "nullable";
  }
  return schema.type || "string";
}

// An input for the setting's type; `onChange(value)` gets the parsed value, or an Error.
function control(item, onChange) {
  const schema = item.schema || {};
  const type = schemaType(schema);
  const name = item.name;
  if (!item.editable) return h("div", { class: "ro" }, show(item.value));
  if (type === "boolean") {
    return h("div", {}, switchInput({ name, checked: item.value, "aria-label": item.env, onchange: (e) => onChange(e.target.checked) }));
  }
  if (type === "enum") {
    const options = schema.enum || (schema.anyOf.find((s) => s.enum) || {}).enum || [];
    return h("select", { name, "aria-label": item.env, onchange: (e) => onChange(e.target.value) }, options.map((o) => h("option", { value: o, selected: o === item.value }, o)));
  }
  if (type === "integer" || type === "number") {
    const min = schema.minimum ?? schema.exclusiveMinimum;
    return h("input", {
      name, type: "number", value: item.value, min, max: schema.maximum, step: type === "integer" ? 1 : "any", "aria-label": item.env,
      oninput: (e) => onChange(e.target.value === "" ? new Error(t("set.numberRequired")) : Number(e.target.value)),
    });
  }
  if (type === "array") {
    return h("input", { name, value: (item.value || []).join(", "), placeholder: t("set.commaSeparated"), "aria-label": item.env, oninput: (e) => onChange(e.target.value.split(",").map((s) => s.trim()).filter(Boolean)) });
  }
  if (type === "object") {
    return h("textarea", {
      name, rows: 3, class: "mono", "aria-label": item.env,
      oninput: (e) => {
        try {
          onChange(e.target.value.trim() ? JSON.parse(e.target.value) : {});
        } catch {
          onChange(new Error(t("set.badJson")));
        }
      },
    }, JSON.stringify(item.value || {}, null, 1));
  }
  return h("input", { name, value: item.value ?? "", placeholder: item.default === null ? t("set.notSet") : String(item.default), "aria-label": item.env, oninput: (e) => onChange(e.target.value === "" && type === "nullable" ? null : e.target.value) });
}

function settingRow(item, changes, onChanged, onReset) {
  const row = h("div", { class: "setting", dataset: { name: item.name, source: item.source } });
  const problem = h("div", { class: "cell-sub", style: { color: "var(--bad)" } });
  const input = control(item, (value) => {
    if (value instanceof Error) {
      problem.textContent = value.message;
      changes.delete(item.name);
    } else {
      problem.textContent = "";
      if (JSON.stringify(value) === JSON.stringify(item.value)) changes.delete(item.name);
      else changes.set(item.name, value);
    }
    row.classList.toggle("changed", changes.has(item.name));
    onChanged();
  });
  const tags = h(
    "div",
    { class: "tags" },
    h("span", { class: `badge ${SOURCE_TONE[item.source]}`, title: t("set.sourceTitle") }, tv("setsource", item.source)),
    item.editable ? h("span", { class: `badge ${item.live ? "ok" : "warn"}` }, item.live ? t("set.live") : t("set.restart")) : h("span", { class: "badge" }, t("set.readOnly")),
    item.secret ? h("span", { class: "badge" }, t("set.secret")) : null,
  );
  let override = null;
  if (item.overrides_env) {
    override = h(
      "div",
      { class: "notice warn override" },
      h("b", {}, t("set.override.title"), " "),
      t("set.override.text", { env: item.env, environment: show(item.environment_value), stored: show(item.value) }),
      " ",
      h("button", { class: "small", onclick: () => onReset(item) }, t("set.override.use")),
    );
  } else if (item.source === "stored") {
    override = h("div", { class: "override cell-sub" }, t("set.stored", { default: show(item.default) }), " ", h("button", { class: "small ghost", onclick: () => onReset(item) }, t("set.resetDefault")));
  }
  return append(row, [
    // Descriptions and notes come from the server's settings schema, in English: marked so.
    h("div", {}, h("div", { class: "name" }, item.env), h("div", { class: "desc", lang: "en" }, item.description || ""), item.note ? h("div", { class: "cell-sub", lang: "en" }, item.note) : null, tags),
    h("div", { class: "control" }, input, problem),
    override,
  ]);
}

function append(el, children) {
  for (const child of children) if (child) el.append(child);
  return el;
}

function auditTable(entries) {
  if (!entries.length) return h("div", { class: "empty" }, t("set.audit.empty"));
  return h(
    "table",
    { class: "cards" },
    h("thead", {}, h("tr", {}, h("th", {}, t("set.audit.when")), h("th", {}, t("set.audit.who")), h("th", {}, t("set.audit.action")), h("th", {}, t("set.audit.target")), h("th", {}, t("set.audit.change")))),
    h(
      "tbody",
      {},
      entries.map((e) =>
        h(
          "tr",
          {},
          h("td", { "data-label": t("set.audit.when"), class: "nowrap" }, when(e.at * 1000)),
          h("td", { "data-label": t("set.audit.who"), class: "mono" }, e.actor, e.address ? h("div", { class: "cell-sub" }, e.address) : null),
          h("td", { "data-label": t("set.audit.action") }, h("span", { class: "badge mono" }, e.action)),
          h("td", { "data-label": t("set.audit.target"), class: "mono truncate", title: e.target || "" }, e.target || "–"),
          h("td", { "data-label": t("set.audit.change"), class: "mono wide" }, e.old === null && e.new === null ? "–" : `${show(e.old)} → ${show(e.new)}`),
        ),
      ),
    ),
  );
}

export async function render(main) {
  const changes = new Map();
  const body = h("div", { class: "stack" });
  const audit = h("div", { class: "table-wrap" });
  const count = h("span", { class: "grow" });
  const save = h("button", { class: "primary", onclick: () => saveAll() }, t("set.saveChanges"));
  const discard = h("button", { onclick: () => load() }, t("set.discard"));
  const savebar = h("div", { class: "savebar hidden" }, count, discard, save);
  // Search and "changed from default": rows are hidden, not redrawn, so unsaved edits stay.
  const search = h("input", { type: "search", name: "settings_search", placeholder: t("set.search"), "aria-label": t("set.searchLabel"), oninput: () => applyFilter() });
  const changedOnly = h("input", { type: "checkbox", name: "changed_only", onchange: () => applyFilter() });
  const shownCount = h("span", { class: "faint" });
  function applyFilter() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const section of body.querySelectorAll("section[data-group]")) {
      let any = false;
      for (const row of section.querySelectorAll(".setting")) {
        const text = row.textContent.toLowerCase();
        const ok = words.every((w) => text.includes(w) || row.dataset.name.includes(w)) && (!changedOnly.checked || row.dataset.source !== "default");
        row.classList.toggle("hidden", !ok);
        if (ok) any = true;
        if (ok) shown += 1;
      }
      section.classList.toggle("hidden", !any);
    }
    shownCount.textContent = t("req.shown", { n: shown });
  }

  const onChanged = () => {
    savebar.classList.toggle("hidden", changes.size === 0);
    count.textContent = tn("set.unsaved", changes.size);
  };
  async function onReset(item) {
    const ok = await confirmDialog(t("set.reset.confirm", { env: item.env }), t(item.overrides_env ? "set.reset.textEnv" : "set.reset.textDefault", { value: show(item.environment_value) }), t("pool.reset"), false);
    if (!ok) return;
    try {
      const result = await api(`/api/settings/${encodeURIComponent(item.name)}`, { method: "DELETE" });
      report(result.changed);
      draw(result.settings);
      loadAudit();
    } catch (exc) {
      toast(t("app.failed", { message: exc.message }), "bad");
    }
  }
  function report(changed) {
    for (const c of changed) toast(`${c.name.toUpperCase()}: ${c.applied_now ? t("set.appliedNow") : t("set.appliedLater")}`, c.applied_now ? "ok" : "warn");
  }
  async function saveAll() {
    save.disabled = true;
    try {
      const result = await api("/api/settings", { method: "PUT", body: { values: Object.fromEntries(changes) } });
      report(result.changed);
      draw(result.settings);
      loadAudit();
    } catch (exc) {
      toast(t("common.notSaved", { message: exc.message }), "bad");
    } finally {
      save.disabled = false;
    }
  }
  function draw(settings) {
    const scroll = window.scrollY; // a redraw after saving must not jump the page
    requestAnimationFrame(() => window.scrollTo(0, scroll));
    changes.clear();
    onChanged();
    const groups = new Map();
    for (const item of settings) {
      if (!groups.has(item.group)) groups.set(item.group, []);
      groups.get(item.group).push(item);
    }
    const overridden = settings.filter((s) => s.overrides_env);
    const jump = h(
      "div",
      { class: "row jump" },
      [...groups.keys()].map((group) => h("button", { class: "small ghost", onclick: () => body.querySelector(`[data-group="${group}"]`).scrollIntoView({ behavior: "smooth" }) }, tv("setgroup", group))),
    );
    clear(
      body,
      jump,
      overridden.length
        ? h("div", { class: "notice warn" }, h("b", {}, tn("set.overridden", overridden.length), " "), overridden.map((s) => s.env).join(", "), " ", t("set.overriddenText"))
        : null,
      [...groups].map(([group, items]) =>
        h("section", { class: "card", dataset: { group } }, h("header", {}, h("h2", {}, tv("setgroup", group)), h("span", { class: "sub" }, t("set.editable", { n: items.filter((i) => i.editable).length }))), items.map((item) => settingRow(item, changes, onChanged, onReset))),
      ),
    );
    applyFilter();
  }
  async function load() {
    const data = await api("/api/settings");
    draw(data.settings);
    if (!data.store) body.prepend(h("div", { class: "notice bad" }, t("set.noStore")));
  }
  async function loadAudit() {
    try {
      clear(audit, auditTable((await api("/api/audit?limit=50")).entries));
    } catch (exc) {
      clear(audit, h("div", { class: "notice warn" }, t("app.failed", { message: exc.message })));
    }
  }

  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("nav.settings")), h("p", {}, t("set.lead")))),
    h("section", { class: "card row settings-search" }, h("div", { class: "grow", style: { minWidth: "200px" } }, search), h("label", { class: "check" }, changedOnly, t("set.changedOnly")), shownCount),
    body,
    savebar,
    h("section", { class: "card", style: { marginTop: "16px" } }, h("header", {}, h("h2", {}, t("set.audit.title")), h("span", { class: "sub" }, t("set.audit.sub"))), audit),
  );
  await load();
  await loadAudit();
  return null;
}
