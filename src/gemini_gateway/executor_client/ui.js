/*
 * The executor's status panel and settings form, shared by the /executor page and the userscript.
 * Built with DOM calls only (no innerHTML): AI Studio enforces Trusted Types, which rejects it.
 */
(function (root) {
  "use strict";

  var doc = root.document;

  function el(tag, attrs, children) {
    var node = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  // Fields a page can leave out with `defaults.hide` (the Build app has no endpoint to set).
  var FIELDS = [
    ["gateway", "Gateway WebSocket URL", "text"],
    ["token", "Executor token", "password"],
    ["endpoint", "Gemini endpoint", "text"],
    ["apiKey", "Gemini API key", "password"],
    ["name", "Executor name", "text"],
    ["concurrency", "Max concurrent tasks", "number"],
  ];

  var STATUS = [
    ["state", "State"],
    ["name", "Name"],
    ["served", "Tasks served"],
    ["failed", "Tasks failed"],
    ["cancelled", "Tasks cancelled"],
    ["inFlight", "In flight"],
    ["connects", "Connections made"],
    ["connectedSince", "Connected since"],
    ["lastError", "Last error"],
  ];

  /* Render into `container`, start the executor, and return it (also as window.executor). */
  function boot(container, defaults) {
    var api = root.GeminiExecutor;
    // The userscript ignores the host page's query: AI Studio's parameters are not ours.
    var search = defaults.ignoreQuery ? "" : root.location.search;
    var config = api.loadConfig(defaults, search);
    var executor = new api.Executor(config, {
      perform: defaults.perform,
      capabilities: defaults.capabilities,
      client: defaults.client,
    });
    root.executor = executor;

    var hidden = defaults.hide || [];
    var fields = FIELDS.filter(function (field) {
      return hidden.indexOf(field[0]) < 0;
    });
    var cells = {};
    var table = el(
      "table",
      { class: "gge-status" },
      STATUS.map(function (row) {
        cells[row[0]] = el("td", { "data-status": row[0] });
        return el("tr", {}, [el("th", { text: row[1] }), cells[row[0]]]);
      })
    );
    var inputs = {};
    var form = el(
      "form",
      { class: "gge-form" },
      fields.map(function (field) {
        inputs[field[0]] = el("input", { name: field[0], type: field[2], autocomplete: "off" });
        inputs[field[0]].value = config[field[0]];
        return el("label", {}, [el("span", { text: field[1] }), inputs[field[0]]]);
      })
    );
    var connect = el("button", { type: "submit", text: "Save and connect" });
    var stop = el("button", { type: "button", text: "Disconnect" });
    form.appendChild(el("div", { class: "gge-buttons" }, [connect, stop]));
    container.appendChild(table);
    container.appendChild(form);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      executor.stop();
      fields.forEach(function (field) {
        config[field[0]] = inputs[field[0]].value.trim();
      });
      config.concurrency = Math.max(1, parseInt(config.concurrency, 10) || 4);
      config.endpoint = config.endpoint.replace(/\/+$/, "");
      api.saveConfig(config);
      executor.status.name = config.name;
      executor.start();
    });
    stop.addEventListener("click", function () {
      executor.stop();
    });

    function render(status) {
      STATUS.forEach(function (row) {
        var value = status[row[0]];
        cells[row[0]].textContent = value === null || value === undefined || value === "" ? "-" : String(value);
      });
      container.setAttribute("data-state", status.state);
    }
    executor.onChange(render);
    render(executor.status);

    // Secrets given in the address bar are kept for reloads, then taken out of the URL and history.
    var query = new URLSearchParams(search);
    if (query.has("token") || query.has("key")) {
      api.saveConfig(config);
      query.delete("token");
      query.delete("key");
      var rest = query.toString();
      root.history.replaceState(null, "", root.location.pathname + (rest ? "?" + rest : ""));
    }
    executor.start();
    return executor;
  }

  root.GeminiExecutorUI = { boot: boot };
})(typeof window !== "undefined" ? window : globalThis);
