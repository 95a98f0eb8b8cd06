// Get started: where an empty pool is filled on the first run. Paste keys, import a file from the
// project this gateway replaces (gemini-balance .env, gcli2api / Gemini CLI credentials, an
// AIstudioProxyAPI auth profile: read by the server, POST /api/import), sign in a Google account,
// then send a first prompt the way the Playground does (/v1/chat/completions with the session).
import { api, headers, utf8Header } from "../api.js";
import { credentialLabel, credentialNames } from "../credentials.js";
import { clear, h, icon, toast } from "../dom.js";
import { t, tv } from "../i18n.js";
import { googleLoginDialog } from "../oauth-login.js";

const KINDS = ["auto", "gemini-balance", "oauth", "aistudio", "keys"];

// What one import did, in words: counts, masks and hints only (the server never sends more).
function importSummary(file, result) {
  const lines = [];
  const keys = result.keys;
  if (keys.added.length) lines.push(t("welcome.result.keys", { n: keys.added.length, labels: keys.added.join(", ") }));
  if (keys.existing) lines.push(t("welcome.result.keysExisting", { n: keys.existing }));
  if (keys.rejected) lines.push(t("pool.add.rejected", { n: keys.rejected }));
  const tokens = result.tokens;
  if (tokens.added.length) lines.push(t("welcome.result.tokens", { n: tokens.added.length, hints: tokens.added.map((x) => x.hint).join(", ") }));
  if (tokens.existing) lines.push(t("welcome.result.tokensExisting", { n: tokens.existing }));
  for (const account of result.accounts) lines.push(t(account.new ? "welcome.result.account" : "welcome.result.accountAgain", { label: account.label }));
  for (const profile of result.profiles) lines.push(t("welcome.result.profile", { name: profile.name, n: profile.cookies }));
  if (result.skipped_settings.length) lines.push(t("welcome.result.skipped", { names: result.skipped_settings.join(", ") }));
  return h(
    "div",
    { class: "notice ok import-result" },
    h("b", {}, t("welcome.result.title", { file, kind: tv("importkind", result.kind) })),
    h("ul", {}, lines.map((line) => h("li", {}, line))),
  );
}

export async function render(main) {
  const poolCount = h("span", { class: "badge accent" });
  const results = h("div", { class: "stack" });
  let names = new Map();

  async function refreshCount() {
    const data = await api("/api/keys");
    poolCount.textContent = t("pool.chip.total", { n: data.summary.total });
    names = await credentialNames(0);
    return data.summary.total;
  }

  // 1. Keys pasted by hand.
  const area = h("textarea", { name: "keys", rows: 4, placeholder: t("pool.add.placeholder"), "aria-label": t("pool.add.keys") });
  const addButton = h("button", { class: "primary", type: "submit" }, icon("plus"), t("pool.addKeys"));
  const keysForm = h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!area.value.trim()) return area.focus();
        addButton.disabled = true;
        try {
          const result = await api("/api/keys", { method: "POST", body: { keys: area.value } });
          area.value = "";
          toast(t("pool.add.added", { n: result.added.length }), "ok");
          await refreshCount();
        } catch (exc) {
          toast(t("app.failed", { message: exc.message }), "bad");
        } finally {
          addButton.disabled = false;
        }
      },
    },
    area,
    h("div", { class: "row" }, addButton),
  );

  // 2. A file of gemini-balance, gcli2api / Gemini CLI or AIstudioProxyAPI.
  const kind = h("select", { name: "import_kind", "aria-label": t("welcome.import.kind") }, KINDS.map((k) => h("option", { value: k }, tv("importkind", k))));
  const fileInput = h("input", {
    type: "file",
    name: "import_file",
    multiple: true,
    accept: ".env,.json,.txt,text/plain,application/json",
    "aria-label": t("welcome.import.file"),
    onchange: async () => {
      const files = [...fileInput.files];
      fileInput.value = "";
      for (const file of files) await importOne(file.name, await file.text());
    },
  });
  const pasted = h("textarea", { name: "import_text", rows: 4, class: "mono", placeholder: t("welcome.import.pastePlaceholder"), "aria-label": t("welcome.import.paste") });
  const importButton = h("button", { type: "button", name: "import", onclick: async () => { if (pasted.value.trim() && (await importOne(t("welcome.import.pasted"), pasted.value))) pasted.value = ""; } }, icon("upload"), t("welcome.import.button"));
  async function importOne(filename, content) {
    try {
      const result = await api("/api/import", { method: "POST", body: { content, kind: kind.value, filename } });
      results.prepend(importSummary(filename, result));
      await refreshCount();
      return true;
    } catch (exc) {
      results.prepend(h("div", { class: "notice bad", role: "alert" }, t("welcome.import.failed", { file: filename, message: exc.message })));
      return false;
    }
  }

  // 3. The first call, through the model API like any client's (and recorded like one).
  const testButton = h("button", { class: "primary", type: "button", name: "send_test", onclick: () => sendTest() }, icon("send"), t("welcome.test.button"));
  const testResult = h("div", { class: "stack test-result", "aria-live": "polite" });
  async function sendTest() {
    testButton.disabled = true;
    clear(testResult, h("div", { class: "muted" }, t("welcome.test.sending")));
    try {
      const listed = (await api("/api/models")).models;
      const model = listed.find((id) => id.includes("flash")) || listed[0];
      if (!model) throw new Error(t("play.noModels"));
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: headers({ "content-type": "application/json" }),
        credentials: "same-origin",
        body: JSON.stringify({ model, messages: [{ role: "user", content: t("welcome.test.prompt") }] }),
      });
      const credential = utf8Header(response.headers.get("x-gateway-credential"));
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body?.error?.message || `${response.status} ${response.statusText}`);
      names = await credentialNames(0);
      clear(
        testResult,
        h("div", { class: "notice ok" }, h("b", {}, t("welcome.test.ok", { model })), " ", credential ? h("span", {}, t("play.servedBy"), " ", credentialLabel(names, null, credential)) : null),
        h("div", { class: "bubble" }, body.choices?.[0]?.message?.content || ""),
        h("div", { class: "row" }, h("a", { href: "#/dashboard" }, t("welcome.test.dashboard")), h("a", { href: "#/playground" }, t("welcome.test.playground"))),
      );
    } catch (exc) {
      clear(testResult, h("div", { class: "notice bad", role: "alert" }, t("welcome.test.failed", { message: exc.message })));
    } finally {
      testButton.disabled = false;
    }
  }

  const step = (n, title, lead, ...body) =>
    h("section", { class: "card stack" }, h("header", {}, h("h2", {}, h("span", { class: "badge accent" }, n), " ", title)), lead ? h("p", { class: "muted", style: { margin: 0 } }, lead) : null, ...body);

  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("nav.welcome")), h("p", {}, t("welcome.lead"))), poolCount),
    h(
      "div",
      { class: "grid two" },
      step("1", t("welcome.keys.title"), t("pool.add.lead"), keysForm),
      step(
        "2",
        t("welcome.import.title"),
        t("welcome.import.lead"),
        h("ul", { class: "muted import-kinds" }, h("li", {}, t("welcome.import.balance")), h("li", {}, t("welcome.import.gcli")), h("li", {}, t("welcome.import.aistudio"))),
        h("div", { class: "row" }, h("label", { class: "field" }, t("welcome.import.kind"), kind), h("label", { class: "field grow" }, t("welcome.import.file"), fileInput)),
        pasted,
        h("div", { class: "row" }, importButton),
      ),
    ),
    results,
    h(
      "div",
      { class: "grid two" },
      step("3", t("pool.addGoogle"), t("oauth.lead"), h("div", { class: "row" }, h("button", { type: "button", onclick: () => googleLoginDialog(() => refreshCount()) }, icon("user"), t("oauth.signIn")))),
      step("4", t("welcome.test.title"), t("welcome.test.lead"), h("div", { class: "row" }, testButton), testResult),
    ),
  );
  await refreshCount();
  return null;
}
