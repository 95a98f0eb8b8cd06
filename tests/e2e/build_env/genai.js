/*
 * A stand-in for AI Studio's Build environment as an app sees it: the `@google/genai` module its
 * import map names, with the environment's proxy behind it. The app hands it no key of its own;
 * the calls reach the (fake) Gemini API with the environment's access, as AI Studio serves a
 * Build app's calls with the signed-in account.
 *
 * The surface is the real SDK's, for the calls the app makes: `new GoogleGenAI({apiKey})`,
 * `models.generateContent / generateContentStream / countTokens / embedContent` taking
 * `{model, contents, config}` (config.abortSignal honoured), answers carrying `sdkHttpResponse`,
 * failures thrown as `ApiError{status, message}` whose message is Google's error body as JSON;
 * `files.upload / get / list / delete` (upload by the resumable protocol, in one go) and
 * `caches.create / get / list / update / delete`, lists answered as a pager whose `page` holds the
 * items and whose `params.config.pageToken` the next page's token.
 */
const UPSTREAM = "__UPSTREAM__";
const ENVIRONMENT_KEY = "__ENVIRONMENT_KEY__";
const TOP_LEVEL = ["systemInstruction", "tools", "toolConfig", "safetySettings", "cachedContent", "labels"];

export const environment = (globalThis.__buildEnvironment = { apiKeys: [], calls: [] });

export class ApiError extends Error {
  constructor(options) {
    super(options.message);
    this.name = "ApiError";
    this.status = options.status;
  }
}

function contentsOf(contents) {
  if (typeof contents === "string") return [{ role: "user", parts: [{ text: contents }] }];
  return contents;
}

function generateRequest(params) {
  const config = Object.assign({}, params.config || {});
  delete config.abortSignal;
  const body = { contents: contentsOf(params.contents) };
  for (const name of TOP_LEVEL) {
    if (config[name] !== undefined) body[name] = config[name];
    delete config[name];
  }
  if (Object.keys(config).length) body.generationConfig = config;
  return body;
}

async function post(model, rpc, body, config, sse) {
  environment.calls.push(rpc);
  const url = UPSTREAM + "/v1beta/models/" + model + ":" + rpc + (sse ? "?alt=sse" : "");
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": ENVIRONMENT_KEY },
    body: JSON.stringify(body),
    signal: config && config.abortSignal,
  });
  if (!response.ok) throw new ApiError({ message: await response.text(), status: response.status });
  return response;
}

function answer(json) {
  return Object.assign(json, { sdkHttpResponse: { headers: { "content-type": "application/json" } } });
}

async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const step = await reader.read();
    buffer += step.done ? decoder.decode() : decoder.decode(step.value, { stream: true });
    const blocks = buffer.split(/\r\n\r\n|\n\n/);
    buffer = step.done ? "" : blocks.pop();
    for (const block of blocks) {
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      if (!data) continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError({ message: JSON.stringify(chunk), status: chunk.error.code });
      yield answer(chunk);
    }
    if (step.done) return;
  }
}

class Models {
  async generateContent(params) {
    const response = await post(params.model, "generateContent", generateRequest(params), params.config);
    return answer(await response.json());
  }

  async generateContentStream(params) {
    const response = await post(params.model, "streamGenerateContent", generateRequest(params), params.config, true);
    return events(response);
  }

  async countTokens(params) {
    const body = { contents: contentsOf(params.contents) };
    const response = await post(params.model, "countTokens", body, params.config);
    return answer(await response.json());
  }

  async embedContent(params) {
    // The SDK embeds through batchEmbedContents on the Gemini API.
    const config = Object.assign({}, params.config || {});
    delete config.abortSignal;
    const requests = params.contents.map((content) =>
      Object.assign({ model: "models/" + params.model, content: content }, config)
    );
    const response = await post(params.model, "batchEmbedContents", { requests }, params.config);
    return answer(await response.json());
  }
}

async function call(method, path, body, config, headers) {
  environment.calls.push(method + " " + path.replace(UPSTREAM, "").split("?")[0]);
  const response = await fetch(path.startsWith("http") ? path : UPSTREAM + "/v1beta/" + path, {
    method: method,
    headers: Object.assign({ "x-goog-api-key": ENVIRONMENT_KEY }, headers || { "content-type": "application/json" }),
    body: body,
    signal: config && config.abortSignal,
  });
  if (!response.ok) throw new ApiError({ message: await response.text(), status: response.status });
  return response;
}

async function json(response) {
  const text = await response.text();
  return answer(text.trim() ? JSON.parse(text) : {});
}

function pager(key, page, config) {
  const params = { config: Object.assign({}, config || {}) };
  delete params.config.abortSignal;
  params.config.pageToken = page.nextPageToken;
  return { page: page[key] || [], params: params, sdkHttpResponse: {} };
}

function listQuery(config) {
  const query = new URLSearchParams();
  if (config && config.pageSize) query.set("pageSize", String(config.pageSize));
  if (config && config.pageToken) query.set("pageToken", config.pageToken);
  const text = query.toString();
  return text ? "?" + text : "";
}

const named = (prefix, name) => (name.startsWith(prefix + "/") ? name : prefix + "/" + name);

class Files {
  async upload(params) {
    const config = params.config || {};
    const blob = params.file;
    const mimeType = config.mimeType || blob.type;
    const file = { mimeType: mimeType, sizeBytes: String(blob.size) };
    if (config.displayName) file.displayName = config.displayName;
    if (config.name) file.name = config.name;
    const start = await call("POST", UPSTREAM + "/upload/v1beta/files", JSON.stringify({ file }), config, {
      "content-type": "application/json",
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": String(blob.size),
      "x-goog-upload-header-content-type": mimeType,
    });
    const url = start.headers.get("x-goog-upload-url");
    const done = await call("POST", url, blob, config, {
      "x-goog-upload-command": "upload, finalize",
      "x-goog-upload-offset": "0",
    });
    return (await done.json()).file;
  }

  async get(params) {
    return json(await call("GET", named("files", params.name), undefined, params.config));
  }

  async list(params) {
    const config = (params && params.config) || {};
    return pager("files", await (await call("GET", "files" + listQuery(config), undefined, config)).json(), config);
  }

  async delete(params) {
    return json(await call("DELETE", named("files", params.name), undefined, params.config));
  }
}

class Caches {
  async create(params) {
    const config = Object.assign({}, params.config || {});
    delete config.abortSignal;
    const body = Object.assign({ model: named("models", params.model) }, config);
    return json(await call("POST", "cachedContents", JSON.stringify(body), params.config));
  }

  async get(params) {
    return json(await call("GET", named("cachedContents", params.name), undefined, params.config));
  }

  async list(params) {
    const config = (params && params.config) || {};
    const page = await (await call("GET", "cachedContents" + listQuery(config), undefined, config)).json();
    return pager("cachedContents", page, config);
  }

  async update(params) {
    const config = Object.assign({}, params.config || {});
    delete config.abortSignal;
    const mask = Object.keys(config).map((name) => (name === "expireTime" ? "expire_time" : name)).join(",");
    const path = named("cachedContents", params.name) + "?updateMask=" + encodeURIComponent(mask);
    return json(await call("PATCH", path, JSON.stringify(config), params.config));
  }

  async delete(params) {
    return json(await call("DELETE", named("cachedContents", params.name), undefined, params.config));
  }
}

export class GoogleGenAI {
  constructor(options) {
    environment.apiKeys.push(options ? options.apiKey : undefined);
    this.models = new Models();
    this.files = new Files();
    this.caches = new Caches();
  }
}
