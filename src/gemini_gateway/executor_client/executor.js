/*
 * gemini-gateway executor client, protocol 1 (see docs/executor-protocol.md).
 *
 * Runs in a browser tab (the /executor page, or an AI Studio tab through the userscript),
 * connects to the gateway over WebSocket, and performs the tasks it receives with the page's
 * own fetch against the configured Gemini endpoint, sending every response chunk back as it
 * arrives. No dependencies and no build step: the same file is served to the page, pasted
 * into the userscript, and imported by the AI Studio Build app (build_app/), which replaces the
 * fetch with the Build environment's own Gemini client (`options.perform`).
 */
(function (root) {
  "use strict";

  var PROTOCOL = 1;
  var CLIENT = "gemini-gateway-executor/1";
  var STORAGE_KEY = "gemini-gateway-executor";
  var NAME_KEY = "gemini-gateway-executor-name";
  var GOOGLE = "https://generativelanguage.googleapis.com";
  // Close codes after which retrying with the same settings cannot work (bad token, old client).
  var FATAL_CLOSE_CODES = [4401, 4403, 4426, 4429];
  // What a tab with a fetch can run: every model method, and the Files API and cached contents,
  // which a gateway sends only to tabs that list them (an empty list means the model methods).
  var CAPABILITIES = [
    "generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents",
    "predict", "models.list", "models.get",
    "files.upload", "files.get", "files.list", "files.delete",
    "cachedContents.create", "cachedContents.get", "cachedContents.list", "cachedContents.patch",
    "cachedContents.delete",
  ];
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 30000;
  // Captured once, before anything on the page can wrap it: calls go out with the page's access.
  var pageFetch = root.fetch.bind(root);

  /* Server-sent events: yields the data of each event; accepts LF, CRLF and CR framing. */
  function SSEParser() {
    this.buffer = "";
  }
  SSEParser.prototype.feed = function (text) {
    this.buffer += text;
    var events = [];
    var boundary = /\r\n\r\n|\n\n|\r\r/g;
    var start = 0;
    var match;
    while ((match = boundary.exec(this.buffer)) !== null) {
      var data = eventData(this.buffer.slice(start, match.index));
      if (data !== null) events.push(data);
      start = match.index + match[0].length;
    }
    this.buffer = this.buffer.slice(start);
    // A lone trailing "\r" may be the first half of "\r\n\r\n"; it stays buffered (above) so
    // that a CRLF stream split between reads is never cut into two events.
    return events;
  };
  SSEParser.prototype.end = function () {
    var data = eventData(this.buffer);
    this.buffer = "";
    return data === null ? [] : [data];
  };

  function eventData(block) {
    var lines = block.split(/\r\n|\n|\r/);
    var data = [];
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (line.slice(0, 5) !== "data:") continue; // comments, event:, id:, retry: carry no payload
      data.push(line.charAt(5) === " " ? line.slice(6) : line.slice(5));
    }
    return data.length ? data.join("\n") : null;
  }

  /* Settings: a keeper's (see below) win over query parameters, which win over saved ones, which
   * win over defaults. A keeper (`gemini-gateway executors keep`) opens this page headless and
   * hands it its settings as `window.__geminiGatewayKeeper` from an init script: the page may sit
   * in a frame whose address the keeper cannot choose (an AI Studio Build app). */
  function loadConfig(defaults, search) {
    var saved = {};
    try {
      saved = JSON.parse(root.localStorage.getItem(STORAGE_KEY) || "{}") || {};
    } catch (e) {
      saved = {};
    }
    var query = new URLSearchParams(search || "");
    var config = {
      gateway: defaults.gateway,
      token: "",
      endpoint: GOOGLE,
      apiKey: "",
      concurrency: 4,
      name: "",
    };
    var fields = { gateway: "gateway", token: "token", endpoint: "endpoint", apiKey: "key", concurrency: "concurrency", name: "name" };
    Object.keys(fields).forEach(function (field) {
      if (saved[field] !== undefined && saved[field] !== "") config[field] = saved[field];
      if (query.has(fields[field])) config[field] = query.get(fields[field]);
    });
    var keeper = root.__geminiGatewayKeeper;
    if (keeper && typeof keeper === "object") {
      ["gateway", "token", "name"].forEach(function (field) {
        if (keeper[field]) config[field] = keeper[field];
      });
    }
    config.concurrency = Math.max(1, parseInt(config.concurrency, 10) || 4);
    config.endpoint = String(config.endpoint || GOOGLE).replace(/\/+$/, "");
    if (!config.name) config.name = tabName();
    return config;
  }

  /* What a keeper says about itself at register (never its token): shown in the gateway's pool. */
  function keeperInfo() {
    var keeper = root.__geminiGatewayKeeper;
    if (!keeper || typeof keeper !== "object") return undefined;
    var info = {};
    ["profile", "opened", "reopens", "since", "last_reopen_reason"].forEach(function (field) {
      if (keeper[field] !== undefined) info[field] = keeper[field];
    });
    return info;
  }

  function saveConfig(config) {
    var copy = {
      gateway: config.gateway,
      token: config.token,
      endpoint: config.endpoint,
      apiKey: config.apiKey,
      concurrency: config.concurrency,
    };
    root.localStorage.setItem(STORAGE_KEY, JSON.stringify(copy));
    // The name lives per tab (sessionStorage): tabs sharing saved settings keep distinct names.
    root.sessionStorage.setItem(NAME_KEY, config.name);
  }

  function tabName() {
    var name = root.sessionStorage.getItem(NAME_KEY);
    if (!name) {
      name = "tab-" + Math.random().toString(36).slice(2, 8);
      root.sessionStorage.setItem(NAME_KEY, name);
    }
    return name;
  }

  function taskUrl(endpoint, task) {
    var path = endpoint + "/" + (task.api_version || "v1beta") + "/models";
    if (task.method === "models.get") path += "/" + encodeURIComponent(task.model);
    else if (task.method !== "models.list") path += "/" + encodeURIComponent(task.model) + ":" + task.method;
    var query = new URLSearchParams(task.params || {});
    if (task.stream) query.set("alt", "sse");
    var text = query.toString();
    return text ? path + "?" + text : path;
  }

  function isResource(method) {
    return /^(files|cachedContents)\./.test(method || "");
  }

  /* The REST call of a Files API or cachedContents task (not an upload): its name (or its
   * collection) under the version, with the verb the method's last word says. */
  function resourceRequest(endpoint, task) {
    var parts = task.method.split(".");
    var verb = { list: "GET", get: "GET", create: "POST", patch: "PATCH", "delete": "DELETE" }[parts[1]];
    var path = endpoint + "/" + (task.api_version || "v1beta") + "/" + (task.name || parts[0]);
    var query = new URLSearchParams(task.params || {}).toString();
    return {
      method: verb,
      url: query ? path + "?" + query : path,
      body: task.body == null || verb === "GET" || verb === "DELETE" ? undefined : JSON.stringify(task.body),
    };
  }

  /* The pieces of a file the gateway sends in `upload` frames, whole once the last one came. */
  function Upload(mimeType) {
    var self = this;
    this.mimeType = mimeType || "application/octet-stream";
    this.parts = [];
    this.whole = new Promise(function (resolve, reject) {
      self.resolve = resolve;
      self.reject = reject;
    });
  }
  Upload.prototype.take = function (message) {
    if (message.data) {
      var text = atob(message.data);
      var bytes = new Uint8Array(text.length);
      for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      this.parts.push(bytes);
    }
    if (message.final) this.resolve(new Blob(this.parts, { type: this.mimeType }));
  };

  function errorBody(status, text) {
    try {
      var body = JSON.parse(text);
      if (Array.isArray(body)) body = body[0]; // Google wraps some errors in a list
      if (body && typeof body.error === "object") return body;
    } catch (e) {
      /* not JSON: wrapped below */
    }
    return { error: { code: status, message: String(text).slice(0, 500) || "HTTP " + status, status: "UNKNOWN" } };
  }

  /* The executor: one WebSocket to the gateway, any number of tasks in flight.
   *
   * `options.perform(task, signal, emit)` replaces the fetch to `config.endpoint`: it calls
   * `emit(payload)` for each GenerateContentResponse (or the one unary answer) and throws for a
   * failure: an error with `upstream` (Google's error body) and `status` is Google's answer, one
   * with `unsupported` declines the task, anything else counts as no answer at all.
   * `options.capabilities` and `options.client` go into the register frame. */
  function Executor(config, options) {
    options = options || {};
    this.config = config;
    this.perform = options.perform || null;
    this.capabilities = options.capabilities || CAPABILITIES;
    this.clientName = options.client || CLIENT;
    this.socket = null;
    this.tasks = new Map(); // task id -> AbortController
    this.uploads = new Map(); // task id -> Upload, for files.upload tasks
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.watchTimer = null;
    this.lastMessage = 0;
    this.heartbeatMs = 10000;
    this.listeners = [];
    this.status = {
      state: "idle", // idle | connecting | connected | disconnected | refused
      name: config.name,
      served: 0,
      failed: 0,
      cancelled: 0,
      inFlight: 0,
      connects: 0,
      lastError: "",
      connectedSince: null,
      nextRetryMs: null,
    };
  }

  Executor.prototype.onChange = function (listener) {
    this.listeners.push(listener);
  };

  Executor.prototype.update = function (changes) {
    Object.assign(this.status, changes || {});
    for (var i = 0; i < this.listeners.length; i++) this.listeners[i](this.status);
  };

  Executor.prototype.start = function () {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  };

  Executor.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.socket) this.socket.close(1000, "stopped by the user");
    this.abortAll();
    this.update({ state: "idle", nextRetryMs: null });
  };

  Executor.prototype.connect = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    var socket;
    try {
      socket = new WebSocket(this.config.gateway);
    } catch (e) {
      this.update({ lastError: "bad gateway URL: " + e.message });
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.update({ state: "connecting", nextRetryMs: null });
    socket.onopen = function () {
      self.send({
        type: "register",
        protocol: PROTOCOL,
        token: self.config.token,
        name: self.config.name,
        max_concurrency: self.config.concurrency,
        capabilities: self.capabilities,
        models: [],
        client: self.clientName + " " + (root.navigator ? root.navigator.userAgent : ""),
        keeper: keeperInfo(),
      });
    };
    socket.onmessage = function (event) {
      if (socket !== self.socket) return;
      self.lastMessage = Date.now();
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        self.update({ lastError: "gateway sent a frame that is not JSON" });
        return;
      }
      self.handle(message);
    };
    socket.onclose = function (event) {
      if (socket !== self.socket) return;
      self.closed(event.code, event.reason);
    };
  };

  Executor.prototype.closed = function (code, reason) {
    clearInterval(this.watchTimer);
    this.socket = null;
    // The gateway has already failed these tasks over; finishing them would waste quota.
    this.abortAll();
    if (this.stopped) return;
    if (FATAL_CLOSE_CODES.indexOf(code) >= 0) {
      this.stopped = true;
      this.update({ state: "refused", lastError: reason || "refused (code " + code + ")", connectedSince: null });
      return;
    }
    if (reason || code !== 1000) {
      this.update({ lastError: "connection closed (code " + code + (reason ? ": " + reason : "") + ")" });
    }
    this.update({ state: "disconnected", connectedSince: null });
    this.scheduleReconnect();
  };

  Executor.prototype.scheduleReconnect = function () {
    if (this.stopped) return;
    var self = this;
    // Exponential backoff with jitter, so many tabs do not hammer a restarting gateway in step.
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, this.attempt));
    var delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempt += 1;
    this.update({ nextRetryMs: delay });
    this.retryTimer = setTimeout(function () {
      self.connect();
    }, delay);
  };

  Executor.prototype.send = function (message) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  };

  Executor.prototype.handle = function (message) {
    switch (message.type) {
      case "registered":
        this.attempt = 0;
        this.heartbeatMs = (message.heartbeat_interval || 10) * 1000;
        this.watch();
        this.update({
          state: "connected",
          name: message.name,
          connects: this.status.connects + 1,
          connectedSince: new Date().toISOString(),
        });
        break;
      case "heartbeat":
        this.send({ type: "heartbeat", time: message.time, in_flight: this.status.inFlight });
        break;
      case "task":
        // Set up before any await: the file's first pieces follow the task frame at once.
        if (message.method === "files.upload") {
          this.uploads.set(message.id, new Upload(message.upload && message.upload.mime_type));
        }
        this.run(message);
        break;
      case "upload":
        var upload = this.uploads.get(message.id);
        if (upload) upload.take(message);
        break;
      case "cancel":
        this.cancel(message.id);
        break;
      case "error":
        this.update({ lastError: message.message || "gateway error" });
        break;
      default:
        break; // newer gateways may send more; ignoring keeps old clients working
    }
  };

  /* A gateway that stopped talking (half-open connection) is only noticed by its silence. */
  Executor.prototype.watch = function () {
    var self = this;
    var socket = this.socket;
    clearInterval(this.watchTimer);
    this.lastMessage = Date.now();
    this.watchTimer = setInterval(function () {
      if (socket !== self.socket) return clearInterval(self.watchTimer);
      if (Date.now() - self.lastMessage > 3 * self.heartbeatMs) socket.close(4000, "gateway silent");
    }, this.heartbeatMs);
  };

  Executor.prototype.cancel = function (id) {
    var upload = this.uploads.get(id);
    if (upload) upload.reject(new Error("cancelled"));
    this.uploads.delete(id);
    var controller = this.tasks.get(id);
    if (!controller) return;
    this.tasks.delete(id);
    controller.abort();
    this.update({ cancelled: this.status.cancelled + 1 });
  };

  Executor.prototype.abortAll = function () {
    this.tasks.forEach(function (controller) {
      controller.abort();
    });
    this.tasks.clear();
    this.uploads.forEach(function (upload) {
      upload.reject(new Error("disconnected"));
    });
    this.uploads.clear();
  };

  Executor.prototype.run = async function (task) {
    var controller = new AbortController();
    this.tasks.set(task.id, controller);
    this.update({ inFlight: this.status.inFlight + 1 });
    var headers = { "content-type": "application/json" };
    if (this.config.apiKey) headers["x-goog-api-key"] = this.config.apiKey;
    var get = task.method === "models.list" || task.method === "models.get";
    var self = this;
    try {
      if (task.method === "files.upload") {
        task.blob = await this.uploads.get(task.id).whole;
        this.uploads.delete(task.id);
      }
      if (isResource(task.method) && !this.perform) {
        this.chunk(task, await this.resource(task, headers, controller.signal));
        this.send({ type: "done", id: task.id });
        this.update({ served: this.status.served + 1 });
        return;
      }
      if (this.perform) {
        await this.perform(task, controller.signal, function (payload) {
          if (!controller.signal.aborted) self.chunk(task, payload);
        });
        if (controller.signal.aborted) return;
        this.send({ type: "done", id: task.id });
        this.update({ served: this.status.served + 1 });
        return;
      }
      var response = await pageFetch(taskUrl(this.config.endpoint, task), {
        method: get ? "GET" : "POST",
        headers: headers,
        body: get || task.body == null ? undefined : JSON.stringify(task.body),
        signal: controller.signal,
        // Without a key the tab's own Google session is the access.
        credentials: this.config.apiKey ? "omit" : "include",
      });
      if (!response.ok) {
        var text = await response.text();
        this.fail(task, response.status, errorBody(response.status, text), "HTTP " + response.status);
        return;
      }
      if (task.stream) await this.relay(task, response, controller);
      else this.chunk(task, JSON.parse(await response.text()));
      if (controller.signal.aborted) return;
      this.send({ type: "done", id: task.id });
      this.update({ served: this.status.served + 1 });
    } catch (e) {
      if (controller.signal.aborted) return; // cancelled by the gateway: it wants no answer
      if (e && e.unsupported) this.send({ type: "error", id: task.id, unsupported: true, message: e.message });
      else if (e && e.upstream) this.fail(task, e.status || e.upstream.error.code || 500, e.upstream, e.message);
      else this.fail(task, 0, null, String((e && e.message) || e));
    } finally {
      this.tasks.delete(task.id);
      this.update({ inFlight: this.status.inFlight - 1 });
    }
  };

  /* A Files API or cachedContents task with the page's fetch. An upload is Google's resumable
   * protocol in two requests: start (which names the upload URL), then the whole file. */
  Executor.prototype.resource = async function (task, headers, signal) {
    var credentials = this.config.apiKey ? "omit" : "include";
    var request;
    if (task.method === "files.upload") {
      var start = await pageFetch(this.config.endpoint + "/upload/" + (task.api_version || "v1beta") + "/files", {
        method: "POST",
        headers: Object.assign({}, headers, {
          "x-goog-upload-protocol": "resumable",
          "x-goog-upload-command": "start",
          "x-goog-upload-header-content-length": String(task.blob.size),
          "x-goog-upload-header-content-type": task.blob.type,
        }),
        body: JSON.stringify(task.body || {}),
        signal: signal,
        credentials: credentials,
      });
      var url = start.headers.get("x-goog-upload-url");
      if (!start.ok || !url) throw await httpError(start, "the upload start gave no upload URL");
      var finish = Object.assign({}, headers, { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" });
      delete finish["content-type"];
      request = { method: "POST", url: url, body: task.blob, headers: finish };
    } else {
      request = resourceRequest(this.config.endpoint, task);
      request.headers = headers;
    }
    var response = await pageFetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: signal,
      credentials: credentials,
    });
    if (!response.ok) throw await httpError(response);
    var text = await response.text();
    return text.trim() ? JSON.parse(text) : {};
  };

  async function httpError(response, otherwise) {
    var text = await response.text();
    var status = response.ok ? 502 : response.status;
    var error = new Error(response.ok ? otherwise : "HTTP " + status);
    error.status = status;
    error.upstream = errorBody(status, response.ok ? otherwise : text);
    return error;
  }

  Executor.prototype.relay = async function (task, response, controller) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var parser = new SSEParser();
    for (;;) {
      var step = await reader.read();
      if (controller.signal.aborted) return;
      var events = step.done ? parser.feed(decoder.decode()).concat(parser.end()) : parser.feed(decoder.decode(step.value, { stream: true }));
      for (var i = 0; i < events.length; i++) {
        var payload = JSON.parse(events[i]);
        if (payload && payload.error) {
          // Google reports trouble inside a started stream as an error event.
          var error = new Error(payload.error.message || "error event in the stream");
          error.upstream = payload;
          reader.cancel();
          throw error;
        }
        this.chunk(task, payload);
      }
      if (step.done) return;
    }
  };

  Executor.prototype.chunk = function (task, payload) {
    this.send({ type: "chunk", id: task.id, payload: payload });
  };

  Executor.prototype.fail = function (task, status, body, message) {
    this.send({ type: "error", id: task.id, status: status, body: body, message: message });
    this.update({ failed: this.status.failed + 1, lastError: message });
  };

  root.GeminiExecutor = {
    PROTOCOL: PROTOCOL,
    Executor: Executor,
    SSEParser: SSEParser,
    loadConfig: loadConfig,
    saveConfig: saveConfig,
    errorBody: errorBody,
    taskUrl: taskUrl,
    resourceRequest: resourceRequest,
    CAPABILITIES: CAPABILITIES,
  };
})(typeof window !== "undefined" ? window : globalThis);
