// Client tokens: create (shown once), list by hint, revoke. Tokens from the environment are read-only.
import { api } from "../api.js";
import { clear, confirmDialog, copyText, h, icon, modal, toast, when } from "../dom.js";
import { t, tv } from "../i18n.js";

function showOnce(result) {
  modal((close) => {
    const field = h("input", { readonly: true, value: result.token, "aria-label": t("tok.new"), onfocus: (e) => e.target.select() });
    return [
      h("h2", {}, t("tok.created", { name: result.name })),
      h("div", { class: "notice warn" }, t("tok.copyNow")),
      h("div", { class: "secret-box" }, field, h("button", { class: "primary", onclick: () => copyText(result.token, t("tok.copied")) }, icon("copy"), t("tok.copy"))),
      result.note ? h("div", { class: "notice", lang: "en" }, result.note) : null,
      h("footer", {}, h("button", { onclick: close }, t("tok.done"))),
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
  const name = h("input", { name: "name", placeholder: t("tok.namePlaceholder"), required: true, maxlength: 100 });
  const tier = h("select", { name: "tier" }, h("option", { value: "user" }, t("tok.tierUser")), h("option", { value: "admin" }, t("tok.tierAdmin")));
  const models = h("input", { name: "models", placeholder: t("req.anyModel"), list: "model-names" });
  const limit = h("input", { name: "rate_limit", type: "number", min: 1, placeholder: t("tok.noLimit") });
  const datalist = h("datalist", { id: "model-names" });
  modelNames().then((names) => datalist.append(...names.map((n) => h("option", { value: n }))));
  const submit = h("button", { class: "primary", type: "submit" }, icon("plus"), t("tok.create"));
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
          toast(t("app.failed", { message: exc.message }), "bad");
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", { class: "field" }, t("pool.name.label"), name),
    h("label", { class: "field" }, t("tok.tier"), tier),
    h("label", { class: "field" }, t("tok.models"), models, datalist),
    h("label", { class: "field" }, t("tok.rateLimit"), limit),
    h("div", { class: "field" }, submit),
  );
}

function tokenRow(tok, refresh) {
  const revoked = Boolean(tok.revoked_at);
  const status = revoked ? h("span", { class: "badge bad" }, t("tok.revoked")) : h("span", { class: "badge ok" }, t("tok.active"));
  const revoke = !revoked && tok.source === "stored"
    ? h(
        "button",
        {
          class: "small danger",
          onclick: async () => {
            if (!(await confirmDialog(t("tok.revokeConfirm", { name: tok.name }), t("tok.revokeText"), t("tok.revoke")))) return;
            try {
              await api(`/api/tokens/${encodeURIComponent(tok.id)}`, { method: "DELETE" });
              toast(t("tok.revokedToast", { name: tok.name }), "ok");
              refresh();
            } catch (exc) {
              toast(t("app.failed", { message: exc.message }), "bad");
            }
          },
        },
        t("tok.revoke"),
      )
    : null;
  return h(
    "tr",
    { dataset: { name: tok.name }, class: revoked ? "faint" : "" },
    h("td", { class: "wide" }, h("div", { class: "cell-main" }, tok.name), h("div", { class: "cell-sub mono" }, `${tok.hint} · ${tok.client_id}`)),
    h("td", { "data-label": t("tok.tier") }, h("span", { class: `badge ${tok.tier === "admin" ? "warn" : "info"}` }, tv("tier", tok.tier))),
    h("td", { "data-label": t("tok.col.models") }, tok.models ? h("div", { class: "chips" }, tok.models.map((m) => h("span", { class: "badge" }, m))) : h("span", { class: "faint" }, t("req.any"))),
    h("td", { "data-label": t("tok.col.rate") }, tok.rate_limit ? t("tok.perMinute", { n: tok.rate_limit }) : h("span", { class: "faint" }, t("common.none"))),
    h("td", { "data-label": t("tok.col.source") }, h("span", { class: `badge ${tok.source === "stored" ? "accent" : ""}` }, tok.source === "env" ? t("source.env") : t("tok.createdHere"))),
    h("td", { "data-label": t("tok.col.created"), class: "nowrap" }, tok.created_at ? when(tok.created_at * 1000) : "–"),
    h("td", { "data-label": t("tok.col.status") }, status),
    h("td", { class: "wide" }, h("div", { class: "actions" }, revoke)),
  );
}

export async function render(main) {
  const tbody = h("tbody");
  const openNote = h("div");
  async function refresh() {
    const data = await api("/api/tokens");
    clear(openNote, data.open ? h("div", { class: "notice" }, t("tok.open")) : null);
    clear(tbody, data.tokens.map((tok) => tokenRow(tok, refresh)));
  }
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("nav.tokens")), h("p", {}, t("tok.lead")))),
    h("section", { class: "card" }, h("header", {}, h("h2", {}, t("tok.newTitle"))), createForm(refresh)),
    openNote,
    h(
      "section",
      { class: "card" },
      h("header", {}, h("h2", {}, t("tok.list"))),
      h("div", { class: "table-wrap" }, h("table", { class: "cards tokens-table" }, h("thead", {}, h("tr", {}, [t("pool.name.label"), t("tok.tier"), t("tok.col.models"), t("tok.col.rate"), t("tok.col.source"), t("tok.col.created"), t("tok.col.status"), ""].map((text) => h("th", {}, text)))), tbody)),
    ),
  );
  await refresh();
  return null;
}
