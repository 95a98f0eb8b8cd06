// Settings: every setting with its value and source; edits are validated, stored, applied and audited.
import { api } from "../api.js";
import { clear, confirmDialog, h, switchInput, toast, when } from "../dom.js";

const SOURCE_TONE = { default: "", env: "info", stored: "accent" };

function show(value) {
  if (value === null || value === undefined) return "not set";
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
      oninput: (e) => onChange(e.target.value === "" ? new Error("a number is required") : Number(e.target.value)),
    });
  }
  if (type === "array") {
    return h("input", { name, value: (item.value || []).join(", "), placeholder: "comma-separated", "aria-label": item.env, oninput: (e) => onChange(e.target.value.split(",").map((s) => s.trim()).filter(Boolean)) });
  }
  if (type === "object") {
    return h("textarea", {
      name, rows: 3, class: "mono", "aria-label": item.env,
      oninput: (e) => {
        try {
          onChange(e.target.value.trim() ? JSON.parse(e.target.value) : {});
        } catch {
          onChange(new Error("not valid JSON"));
        }
      },
    }, JSON.stringify(item.value || {}, null, 1));
  }
  return h("input", { name, value: item.value ?? "", placeholder: item.default === null ? "not set" : String(item.default), "aria-label": item.env, oninput: (e) => onChange(e.target.value === "" && type === "nullable" ? null : e.target.value) });
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
    h("span", { class: `badge ${SOURCE_TONE[item.source]}`, title: "where the current value comes from" }, item.source),
    item.editable ? h("span", { class: `badge ${item.live ? "ok" : "warn"}` }, item.live ? "applies at once" : "applies after restart") : h("span", { class: "badge" }, "read-only"),
    item.secret ? h("span", { class: "badge" }, "secret") : null,
  );
  let override = null;
  if (item.overrides_env) {
    override = h(
      "div",
      { class: "notice warn override" },
      h("b", {}, "The value stored here overrides the environment. "),
      `${item.env} is ${show(item.environment_value)} in the environment (.env or variables), but the stored value ${show(item.value)} wins: editing .env has no effect until you reset this setting. `,
      h("button", { class: "small", onclick: () => onReset(item) }, "Use the environment value"),
    );
  } else if (item.source === "stored") {
    override = h("div", { class: "override cell-sub" }, `Stored in the database (default ${show(item.default)}). `, h("button", { class: "small ghost", onclick: () => onReset(item) }, "Reset to default"));
  }
  return append(row, [
    h("div", {}, h("div", { class: "name" }, item.env), h("div", { class: "desc" }, item.description || ""), item.note ? h("div", { class: "cell-sub" }, item.note) : null, tags),
    h("div", { class: "control" }, input, problem),
    override,
  ]);
}

function append(el, children) {
  for (const child of children) if (child) el.append(child);
  return el;
}

function auditTable(entries) {
  if (!entries.length) return h("div", { class: "empty" }, "Nothing changed yet.");
  return h(
    "table",
    { class: "cards" },
    h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Who"), h("th", {}, "Action"), h("th", {}, "Target"), h("th", {}, "Change"))),
    h(
      "tbody",
      {},
      entries.map((e) =>
        h(
          "tr",
          {},
          h("td", { "data-label": "When", class: "nowrap" }, when(e.at * 1000)),
          h("td", { "data-label": "Who", class: "mono" }, e.actor, e.address ? h("div", { class: "cell-sub" }, e.address) : null),
          h("td", { "data-label": "Action" }, h("span", { class: "badge" }, e.action)),
          h("td", { "data-label": "Target", class: "mono truncate", title: e.target || "" }, e.target || "–"),
          h("td", { "data-label": "Change", class: "mono wide" }, e.old === null && e.new === null ? "–" : `${show(e.old)} → ${show(e.new)}`),
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
  const save = h("button", { class: "primary", onclick: () => saveAll() }, "Save changes");
  const discard = h("button", { onclick: () => load() }, "Discard");
  const savebar = h("div", { class: "savebar hidden" }, count, discard, save);
  // Search and "changed from default": rows are hidden, not redrawn, so unsaved edits stay.
  const search = h("input", { type: "search", name: "settings_search", placeholder: "Search settings (name or description)", "aria-label": "Search settings", oninput: () => applyFilter() });
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
    shownCount.textContent = `${shown} shown`;
  }

  const onChanged = () => {
    savebar.classList.toggle("hidden", changes.size === 0);
    count.textContent = `${changes.size} unsaved change${changes.size === 1 ? "" : "s"}`;
  };
  async function onReset(item) {
    const ok = await confirmDialog(`Reset ${item.env}?`, `The stored value is deleted; ${item.overrides_env ? "the environment's value" : "the default"} (${show(item.environment_value)}) applies again.`, "Reset", false);
    if (!ok) return;
    try {
      const result = await api(`/api/settings/${encodeURIComponent(item.name)}`, { method: "DELETE" });
      report(result.changed);
      draw(result.settings);
      loadAudit();
    } catch (exc) {
      toast(exc.message, "bad");
    }
  }
  function report(changed) {
    for (const c of changed) toast(`${c.name.toUpperCase()}: ${c.applied_now ? "applied now" : "stored; applies after a restart"}`, c.applied_now ? "ok" : "warn");
  }
  async function saveAll() {
    save.disabled = true;
    try {
      const result = await api("/api/settings", { method: "PUT", body: { values: Object.fromEntries(changes) } });
      report(result.changed);
      draw(result.settings);
      loadAudit();
    } catch (exc) {
      toast(`Not saved: ${exc.message}`, "bad");
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
      [...groups.keys()].map((group) => h("button", { class: "small ghost", onclick: () => body.querySelector(`[data-group="${group}"]`).scrollIntoView({ behavior: "smooth" }) }, group)),
    );
    clear(
      body,
      jump,
      overridden.length
        ? h("div", { class: "notice warn" }, h("b", {}, `${overridden.length} stored value${overridden.length === 1 ? " overrides" : "s override"} the environment: `), overridden.map((s) => s.env).join(", "), ". Edits to .env for these are ignored until you reset them below.")
        : null,
      [...groups].map(([group, items]) =>
        h("section", { class: "card", dataset: { group } }, h("header", {}, h("h2", {}, group), h("span", { class: "sub" }, `${items.filter((i) => i.editable).length} editable`)), items.map((item) => settingRow(item, changes, onChanged, onReset))),
      ),
    );
    applyFilter();
  }
  async function load() {
    const data = await api("/api/settings");
    draw(data.settings);
    if (!data.store) body.prepend(h("div", { class: "notice bad" }, "The database is unavailable: settings cannot be stored right now."));
  }
  async function loadAudit() {
    try {
      clear(audit, auditTable((await api("/api/audit?limit=50")).entries));
    } catch (exc) {
      clear(audit, h("div", { class: "notice warn" }, exc.message));
    }
  }

  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Settings"), h("p", {}, "Values come from defaults, then the environment, then what is stored here — which wins. Every change is audited."))),
    h("section", { class: "card row settings-search" }, h("div", { class: "grow", style: { minWidth: "200px" } }, search), h("label", { class: "check" }, changedOnly, "Changed from default"), shownCount),
    body,
    savebar,
    h("section", { class: "card", style: { marginTop: "16px" } }, h("header", {}, h("h2", {}, "Audit log"), h("span", { class: "sub" }, "who changed what (secrets masked)")), audit),
  );
  await load();
  await loadAudit();
  return null;
}
