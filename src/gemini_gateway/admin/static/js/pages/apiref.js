// API reference: the gateway's own OpenAPI document, readable offline (FastAPI's /docs page loads
// Swagger UI from a CDN, which an air-gapped install cannot reach).
import { api } from "../api.js";
import { clear, h, jsonView } from "../dom.js";
import { t, tv } from "../i18n.js";

const METHOD_TONE = { get: "info", post: "ok", put: "warn", delete: "bad", patch: "warn" };

// Schemas with their $refs replaced by the referenced schema (cycles stop at the second visit).
function resolve(schema, components, seen = new Set()) {
  if (Array.isArray(schema)) return schema.map((s) => resolve(s, components, seen));
  if (!schema || typeof schema !== "object") return schema;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    if (seen.has(name)) return { $ref: name };
    return resolve(components[name] || {}, components, new Set([...seen, name]));
  }
  return Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "title").map(([k, v]) => [k, resolve(v, components, seen)]));
}

function operation(path, method, op, components) {
  const params = op.parameters || [];
  const body = op.requestBody?.content;
  const text = (op.description || "").replace(/\s*\n\s*/g, " ").trim();
  return h(
    "details",
    { class: "op", dataset: { search: `${method} ${path} ${op.summary || ""} ${op.description || ""}`.toLowerCase() } },
    h(
      "summary",
      {},
      h("span", { class: `badge ${METHOD_TONE[method] || ""} method` }, method.toUpperCase()),
      h("code", { class: "path" }, path),
      h("span", { class: "muted op-summary", lang: "en" }, op.summary || ""),
    ),
    h(
      "div",
      { class: "op-body stack" },
      // The OpenAPI document is the server's, in English: marked so.
      text ? h("p", { lang: "en" }, text) : null,
      params.length
        ? h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", {}, t("apiref.parameter")), h("th", {}, t("apiref.in")), h("th", {}, t("apiref.type")), h("th", {}, t("apiref.description")))),
            h(
              "tbody",
              {},
              params.map((p) => {
                const schema = resolve(p.schema || {}, components);
                const type = schema.type || (schema.anyOf || []).map((s) => s.type).filter(Boolean).join(" | ") || "";
                return h("tr", {}, h("td", { class: "mono" }, p.name, p.required ? h("span", { class: "faint" }, " *") : null), h("td", {}, tv("paramin", p.in)), h("td", { class: "mono" }, type), h("td", { class: "cell-sub", lang: "en" }, p.description || schema.description || ""));
              }),
            ),
          )
        : null,
      body ? Object.entries(body).map(([type, content]) => h("div", {}, h("div", { class: "faint" }, t("apiref.body", { type })), jsonView(resolve(content.schema, components)))) : null,
      h("div", { class: "faint" }, t("apiref.answers", { codes: Object.keys(op.responses || {}).join(", ") })),
    ),
  );
}

export async function render(main) {
  const spec = await api("/openapi.json");
  const components = spec.components?.schemas || {};
  const groups = new Map();
  for (const [path, methods] of Object.entries(spec.paths)) {
    if (!path.startsWith("/api/")) continue; // the model API is documented by its providers
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op, components));
    }
  }
  const list = h("div", { class: "stack" });
  const search = h("input", {
    style: { width: "100%" },
    placeholder: t("apiref.filter"),
    "aria-label": t("apiref.filterLabel"),
    oninput: () => {
      const text = search.value.trim().toLowerCase();
      for (const op of list.querySelectorAll(".op")) op.classList.toggle("hidden", Boolean(text) && !op.dataset.search.includes(text));
      for (const card of list.querySelectorAll(".card")) card.classList.toggle("hidden", !card.querySelector(".op:not(.hidden)"));
    },
  });
  clear(list, [...groups].map(([tag, ops]) => h("section", { class: "card" }, h("header", {}, h("h2", { class: "mono" }, tag.replace(/^admin: /, "")), h("span", { class: "sub" }, t("apiref.operations", { n: ops.length }))), ops)));
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("nav.api")), h("p", {}, t("apiref.lead", { title: spec.info.title, version: spec.info.version }), " ", h("a", { href: "/openapi.json" }, "/openapi.json"))),
      h("div", { style: { minWidth: "240px", flex: "0 1 320px" } }, search),
    ),
    list,
  );
  return null;
}
