// Installed by gemini-gateway into every AI Studio page before the page's own scripts run
// (a Playwright init script). It watches the page's own RPC calls and hands their bodies to
// the gateway as they arrive, through a binding the gateway exposed. It only observes: the
// page's request and its response reach the page unchanged.
//
// Why here and not in Playwright's network events: a routed response (route.fetch + fulfill)
// reaches the page only once complete, and Response.body() waits for the end too, so neither
// streams. In the page, XMLHttpRequest progress events and a tee of a fetch body give every
// piece the moment the browser has it, in Chromium and in Firefox (Camoufox) alike.
(() => {
  "use strict";
  const config = __GW_HOOK_CONFIG__;
  if (window.__gwHookInstalled) return;
  Object.defineProperty(window, "__gwHookInstalled", { value: config.version });

  const send = (message) => {
    const binding = window[config.binding];
    if (typeof binding !== "function") return;
    try {
      const pending = binding(message);
      if (pending && typeof pending.catch === "function") pending.catch(() => {});
    } catch (error) {
      // The gateway closed this page's context; nothing is listening any more.
    }
  };
  const kindOf = (url) => {
    const text = String(url || "");
    if (config.stream.some((pattern) => text.includes(pattern))) return "stream";
    if (config.whole.some((pattern) => text.includes(pattern))) return "whole";
    return null;
  };
  let counter = 0;
  const nextId = () => `${Date.now().toString(36)}-${++counter}`;

  // XMLHttpRequest: the transport the live page uses for GenerateContent.
  const XHR = window.XMLHttpRequest;
  if (XHR) {
    const calls = new WeakMap();
    const open = XHR.prototype.open;
    const sendRequest = XHR.prototype.send;
    XHR.prototype.open = function (method, url, ...rest) {
      const kind = kindOf(url);
      if (kind) calls.set(this, { kind, url: String(url) });
      else calls.delete(this);
      return open.call(this, method, url, ...rest);
    };
    XHR.prototype.send = function (body) {
      const call = calls.get(this);
      if (call) watchXhr(this, call);
      return sendRequest.call(this, body);
    };
  }

  function watchXhr(xhr, call) {
    const id = nextId();
    send({ type: "open", id, kind: call.kind, url: call.url });
    let offset = 0;
    let seq = 0;
    let started = false;
    const start = () => {
      if (started || xhr.readyState < 2) return;
      started = true;
      send({ type: "start", id, kind: call.kind, url: call.url, status: xhr.status });
    };
    const flush = () => {
      let text = "";
      try {
        text = xhr.responseText || "";
      } catch (error) {
        return; // a binary responseType: nothing for us to read
      }
      if (call.kind === "stream" && text.length > offset) {
        send({ type: "chunk", id, seq: seq++, text: text.slice(offset) });
        offset = text.length;
      }
    };
    xhr.addEventListener("readystatechange", start);
    xhr.addEventListener("progress", () => {
      start();
      flush();
    });
    xhr.addEventListener("load", () => {
      start();
      flush();
      if (call.kind === "stream") send({ type: "end", id, status: xhr.status });
      else send({ type: "body", id, url: call.url, status: xhr.status, text: xhr.responseText || "" });
    });
    xhr.addEventListener("abort", () => send({ type: "abort", id }));
    xhr.addEventListener("error", () => send({ type: "error", id, message: "network error" }));
    xhr.addEventListener("timeout", () => send({ type: "error", id, message: "timed out in the page" }));
  }

  // fetch: read a tee of the body (response.clone()), so the page's own reader is untouched.
  const originalFetch = window.fetch;
  if (typeof originalFetch === "function") {
    window.fetch = function (input, init) {
      const url = typeof input === "string" ? input : (input && input.url) || String(input);
      const kind = kindOf(url);
      const pending = originalFetch.apply(this, arguments);
      if (!kind) return pending;
      const id = nextId();
      send({ type: "open", id, kind, url: String(url) });
      const failed = (error) =>
        send({ type: error && error.name === "AbortError" ? "abort" : "error", id, message: String(error) });
      pending.then((response) => {
        send({ type: "start", id, kind, url: String(url), status: response.status });
        const reader = response.clone().body.getReader();
        const decoder = new TextDecoder();
        let seq = 0;
        let whole = "";
        const pump = () =>
          reader.read().then(({ done, value }) => {
            const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
            if (kind === "stream" && text) send({ type: "chunk", id, seq: seq++, text });
            if (kind === "whole") whole += text;
            if (!done) return pump();
            if (kind === "stream") send({ type: "end", id, status: response.status });
            else send({ type: "body", id, url: String(url), status: response.status, text: whole });
            return undefined;
          });
        return pump();
      }).catch(failed);
      return pending;
    };
  }
})();
