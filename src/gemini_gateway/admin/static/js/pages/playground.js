// Playground: chat with any model through the gateway's own OpenAI-compatible API, streaming,
// showing which credential served each answer and what it cost. The page's session stands in for
// a client token (the gateway accepts it with the CSRF header); no token is ever held in the page.
import { api, headers, utf8Header } from "../api.js";
import { clear, h, icon, ms, num } from "../dom.js";
import { credentialLabel, credentialNames } from "../credentials.js";
import { t } from "../i18n.js";

const state = { model: "", system: "", temperature: 1, maxTokens: "", topP: "", stream: true, messages: [] };
let names = new Map();

function richText(text) {
  // Code fences become <pre> blocks; everything else stays plain text.
  const parts = text.split(/```[a-zA-Z0-9_-]*\n?/);
  return parts.map((part, i) => (i % 2 ? h("pre", {}, part.replace(/\n$/, "")) : part));
}

function bubble(role, text = "") {
  const body = h("div", { class: "bubble" }, richText(text));
  const meta = h("div", { class: "meta" });
  return { el: h("div", { class: `chat-msg ${role}` }, body, meta), body, meta };
}

function metaLine(meta, facts) {
  clear(
    meta,
    facts.credential ? h("span", { title: "x-gateway-credential" }, t("play.servedBy"), " ", h("b", { class: "credential" }, credentialLabel(names, null, facts.credential))) : null,
    facts.usage ? h("span", { class: "usage" }, t("play.usage", { in: num(facts.usage.prompt_tokens), out: num(facts.usage.completion_tokens), total: num(facts.usage.total_tokens) })) : null,
    facts.ttfb !== undefined ? h("span", {}, t("play.firstToken", { time: ms(facts.ttfb) })) : null,
    facts.total !== undefined ? h("span", {}, t("req.tl.total", { time: ms(facts.total) })) : null,
    facts.finish ? (facts.finish === "stopped" ? h("span", {}, t("play.stopped")) : h("span", { class: "mono" }, facts.finish)) : null,
  );
}

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) yield data;
    }
  }
}

function requestBody() {
  const messages = [];
  if (state.system.trim()) messages.push({ role: "system", content: state.system });
  messages.push(...state.messages);
  const body = { model: state.model, messages, stream: state.stream };
  if (state.stream) body.stream_options = { include_usage: true };
  if (state.temperature !== "") body.temperature = Number(state.temperature);
  if (state.maxTokens) body.max_tokens = Number(state.maxTokens);
  if (state.topP) body.top_p = Number(state.topP);
  return body;
}

export async function render(main) {
  const list = h("div", { class: "messages", "aria-live": "polite" });
  const input = h("textarea", { placeholder: t("play.placeholder"), rows: 2, "aria-label": t("play.message") });
  const send = h("button", { class: "primary", type: "submit" }, icon("send"), t("play.send"));
  const stop = h("button", { type: "button", class: "hidden" }, icon("stop"), t("play.stop"));
  const modelSelect = h("select", { "aria-label": t("req.model"), onchange: (e) => (state.model = e.target.value) });
  let controller = null;

  const empty = () => h("div", { class: "empty" }, h("div", {}, t("play.empty")), h("div", { class: "faint" }, t("play.emptySub")));
  function redraw() {
    clear(list);
    if (!state.messages.length) list.append(empty());
    for (const m of state.messages) {
      const b = bubble(m.role, m.content);
      if (m.facts) metaLine(b.meta, m.facts);
      list.append(b.el);
    }
    list.scrollTop = list.scrollHeight;
  }

  async function ask(text) {
    state.messages.push({ role: "user", content: text });
    redraw();
    const answer = bubble("assistant");
    answer.body.classList.add("caret");
    list.append(answer.el);
    const started = performance.now();
    const facts = {};
    let content = "";
    controller = new AbortController();
    send.classList.add("hidden");
    stop.classList.remove("hidden");
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: headers({ "content-type": "application/json" }),
        credentials: "same-origin",
        body: JSON.stringify(requestBody()),
        signal: controller.signal,
      });
      facts.credential = utf8Header(response.headers.get("x-gateway-credential"));
      if (facts.credential) names = await credentialNames();
      if (!response.ok) {
        const error = await response.json().catch(() => ({}));
        throw new Error(error?.error?.message || `${response.status} ${response.statusText}`);
      }
      if (state.stream) {
        for await (const data of sseEvents(response)) {
          if (data === "[DONE]") break;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message || t("play.streamFailed"));
          if (chunk.usage) facts.usage = chunk.usage;
          const choice = chunk.choices?.[0];
          if (choice?.delta?.content) {
            if (facts.ttfb === undefined) facts.ttfb = performance.now() - started;
            content += choice.delta.content;
            clear(answer.body, richText(content));
            list.scrollTop = list.scrollHeight;
          }
          if (choice?.finish_reason) facts.finish = choice.finish_reason;
          metaLine(answer.meta, facts);
        }
      } else {
        const body = await response.json();
        content = body.choices?.[0]?.message?.content || "";
        facts.usage = body.usage;
        facts.finish = body.choices?.[0]?.finish_reason;
        clear(answer.body, richText(content));
      }
      facts.total = performance.now() - started;
      state.messages.push({ role: "assistant", content, facts });
    } catch (exc) {
      const stopped = exc.name === "AbortError";
      answer.el.classList.add(stopped ? "assistant" : "error");
      if (stopped) {
        facts.finish = "stopped";
        state.messages.push({ role: "assistant", content, facts });
      } else {
        clear(answer.body, t("app.failed", { message: exc.message }));
        state.messages.pop(); // the question stays in the box to retry
        input.value = text;
      }
      facts.total = performance.now() - started;
    } finally {
      answer.body.classList.remove("caret");
      metaLine(answer.meta, facts);
      controller = null;
      send.classList.remove("hidden");
      stop.classList.add("hidden");
    }
  }

  const form = h(
    "form",
    {
      class: "composer",
      onsubmit: (event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!text || controller || !state.model) return;
        input.value = "";
        ask(text);
      },
    },
    input,
    send,
    stop,
  );
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener("click", () => controller?.abort());

  const number = (key, attrs) => h("input", { type: "number", value: state[key], ...attrs, oninput: (e) => (state[key] = e.target.value) });
  const tempValue = h("span", { class: "mono" }, String(state.temperature));
  const params = h(
    "section",
    { class: "card params" },
    h("label", { class: "field" }, t("req.model"), modelSelect),
    h("label", { class: "field" }, t("play.system"), h("textarea", { rows: 4, placeholder: t("play.optional"), oninput: (e) => (state.system = e.target.value) }, state.system)),
    h(
      "label",
      { class: "field" },
      h("span", { class: "row", style: { justifyContent: "space-between" } }, t("play.temperature"), tempValue),
      h("input", { type: "range", min: 0, max: 2, step: 0.05, value: state.temperature, oninput: (e) => { state.temperature = e.target.value; tempValue.textContent = e.target.value; } }),
    ),
    h("label", { class: "field" }, t("play.maxTokens"), number("maxTokens", { min: 1, placeholder: t("play.modelDefault") })),
    h("label", { class: "field" }, t("play.topP"), number("topP", { min: 0, max: 1, step: 0.05, placeholder: t("play.modelDefault") })),
    h("label", { class: "check" }, h("input", { type: "checkbox", checked: state.stream, onchange: (e) => (state.stream = e.target.checked) }), t("play.stream")),
    h("button", { type: "button", onclick: () => { controller?.abort(); state.messages = []; redraw(); } }, icon("trash"), t("play.clear")),
  );
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("nav.playground")), h("p", {}, t("play.lead")))),
    h("div", { class: "play" }, params, h("section", { class: "card chat" }, list, form)),
  );
  redraw();

  try {
    // /api/models, not /v1/models: listing models for a picker is not client traffic to record.
    const listed = (await api("/api/models")).models; // the upstream's own order: newest models first
    const ids = [...listed].sort();
    if (!state.model || !ids.includes(state.model)) state.model = listed.find((id) => id.includes("flash")) || listed[0] || "";
    clear(modelSelect, ids.map((id) => h("option", { value: id, selected: id === state.model }, id)));
  } catch (exc) {
    clear(modelSelect, h("option", { value: "" }, t("play.noModels")));
    list.prepend(h("div", { class: "notice warn" }, t("play.cannotList", { message: exc.message })));
  }
  input.focus({ preventScroll: true });
  return () => controller?.abort();
}
