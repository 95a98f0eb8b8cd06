// Client tokens: create (shown once), list by hint, revoke. Tokens from the environment are read-only.
import { api } from "../api.js";
import { clear, confirmDialog, copyText, h, icon, modal, toast, when } from "../dom.js";

function showOnce(result) {
  modal((close) => {
    const field = h("input", { readonly: true, value: result.token, "aria-label": "New token", onfocus: (e) => e.target.select() });
    return [
      h("h2", {}, `Token "${result.name}" created`),
      h("div", { class: "notice warn" }, "Copy it now: it is shown this once and only its hash is stored."),
      h("div", { class: "secret-box" }, field, h("button", { class: "primary", onclick: () => copyText(result.token, "Token copied") }, icon("copy"), "Copy")),
      result.note ? h("div", { class: "notice" }, result.note) : null,
      h("footer", {}, h("button", { onclick: close }, "Done")),
    ];
  });
}

async function modelNames() {
  try {
    return (await api("/api/models")).models; // not /v1/models: that would be recorded as traffic
  } catch {
    return [];
  }
}

function createForm(refresh) {
  const name = h("input", { name: "name", placeholder: "e.g. laptop, ci, alice", required: true, maxlength: 100 });
  const tier = h("select", { name: "tier" }, h("option", { value: "user" }, "user: model API only"), h("option", { value: "admin" }, "admin: model and admin API"));
  const models = h("input", { name: "models", placeholder: "any model", list: "model-names" });
  const limit = h("input", { name: "rate_limit", type: "number", min: 1, placeholder: "no limit" });
  const datalist = h("datalist", { id: "model-names" });
  modelNames().then((names) => datalist.append(...names.map((n) => h("option", { value: n }))));
  const submit = h("button", { class: "primary", type: "submit" }, icon("plus"), "Create token");
  return h(
    "form",
    {
      class: "filters",
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          const result = await api("/api/tokens", {
            method: "POST",
            body: {
              name: name.value.trim(),
              tier: tier.value,
              models: models.value.trim() ? models.value.split(",").map((m) => m.trim()).filter(Boolean) : null,
              rate_limit: limit.value ? Number(limit.value) : null,
            },
          });
          name.value = models.value = limit.value = "";
          showOnce(result);
          refresh();
        } catch (exc) {
          toast(exc.message, "bad");
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", { class: "field" }, "Name", name),
    h("label", { class: "field" }, "Tier", tier),
    h("label", { class: "field" }, "Allowed models (comma-separated)", models, datalist),
    h("label", { class: "field" }, "Rate limit (requests/minute)", limit),
    h("div", { class: "field" }, submit),
  );
}

function tokenRow(t, refresh) {
  const revoked = Boolean(t.revoked_at);
  const status = revoked ? h("span", { class: "badge bad" }, "revoked") : h("span", { class: "badge ok" }, "active");
  const revoke = !revoked && t.source === "stored"
    ? h(
        "button",
        {
          class: "small danger",
          onclick: async () => {
            if (!(await confirmDialog(`Revoke "${t.name}"?`, "Clients using it get 403 from now on. This cannot be undone.", "Revoke"))) return;
            try {
              await api(`/api/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" });
              toast(`"${t.name}" revoked`, "ok");
              refresh();
            } catch (exc) {
              toast(exc.message, "bad");
            }
          },
        },
        "Revoke",
      )
    : null;
  return h(
    "tr",
    { dataset: { name: t.name }, class: revoked ? "faint" : "" },
    h("td", { class: "wide" }, h("div", { class: "cell-main" }, t.name), h("div", { class: "cell-sub mono" }, `${t.hint} · ${t.client_id}`)),
    h("td", { "data-label": "Tier" }, h("span", { class: `badge ${t.tier === "admin" ? "warn" : "info"}` }, t.tier)),
    h("td", { "data-label": "Models" }, t.models ? h("div", { class: "chips" }, t.models.map((m) => h("span", { class: "badge" }, m))) : h("span", { class: "faint" }, "any")),
    h("td", { "data-label": "Rate limit" }, t.rate_limit ? `${t.rate_limit}/min` : h("span", { class: "faint" }, "none")),
    h("td", { "data-label": "Source" }, h("span", { class: `badge ${t.source === "stored" ? "accent" : ""}` }, t.source === "env" ? "environment" : "created here")),
    h("td", { "data-label": "Created", class: "nowrap" }, t.created_at ? when(t.created_at * 1000) : "–"),
    h("td", { "data-label": "Status" }, status),
    h("td", { class: "wide" }, h("div", { class: "actions" }, revoke)),
  );
}

export async function render(main) {
  const tbody = h("tbody");
  const openNote = h("div");
  async function refresh() {
    const data = await api("/api/tokens");
    clear(openNote, data.open ? h("div", { class: "notice" }, "No user-tier token exists, so the model API answers anyone on loopback. Create one to require tokens.") : null);
    clear(tbody, data.tokens.map((t) => tokenRow(t, refresh)));
  }
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Client tokens"), h("p", {}, "Who may call the gateway. A token is shown once when created; only its hash is kept."))),
    h("section", { class: "card" }, h("header", {}, h("h2", {}, "New token")), createForm(refresh)),
    openNote,
    h(
      "section",
      { class: "card" },
      h("header", {}, h("h2", {}, "Tokens")),
      h("div", { class: "table-wrap" }, h("table", { class: "cards tokens-table" }, h("thead", {}, h("tr", {}, ["Name", "Tier", "Models", "Rate limit", "Source", "Created", "Status", ""].map((t) => h("th", {}, t)))), tbody)),
    ),
  );
  await refresh();
  return null;
}
