/*
 * gemini-gateway executor as an AI Studio Build app (docs/executors-build-app.md).
 *
 * The Build environment answers the app's Gemini calls with the signed-in account: its own
 * client, `@google/genai` (from the import map in index.html), gets the key the environment
 * manages. So this app connects to the gateway over /ws/executor (the executor core,
 * executor.js, the same file as the /executor page's) and runs every task through that client
 * instead of a fetch with a key.
 *
 * Written as plain JavaScript (no type annotations), which is valid TSX: AI Studio compiles it,
 * and the gateway's tests load the same file into a browser as is.
 */
import "./executor.js";
import "./ui.js";
import { GoogleGenAI } from "@google/genai";

// Filled in by the gateway that served this file; the settings form can change it.
const GATEWAY = "{{GATEWAY_WS}}";
// What this app hands the client when the environment sets no key variable (outside AI Studio
// a call then fails with Google's "API key not valid", which says where the app runs wrong).
const NO_KEY = "managed-by-ai-studio";
// The calls the environment's client can make from a task's REST body without losing anything.
// Files and cached contents go through the client's `files` and `caches` too, so a file this app
// uploads lives in the account's project and the account's calls can use it.
const CAPABILITIES = [
  "generateContent", "streamGenerateContent", "countTokens", "embedContent",
  "files.upload", "files.get", "files.list", "files.delete",
  "cachedContents.create", "cachedContents.get", "cachedContents.list", "cachedContents.patch",
  "cachedContents.delete",
];
const CACHE_FIELDS = ["contents", "systemInstruction", "tools", "toolConfig", "ttl", "expireTime", "displayName", "kmsKeyName"];
const TOP_LEVEL = ["systemInstruction", "tools", "toolConfig", "safetySettings", "cachedContent", "labels"];

/* The key AI Studio manages: Build apps read it as process.env.API_KEY (or GEMINI_API_KEY). */
function managedKey() {
  try {
    return process.env.API_KEY || process.env.GEMINI_API_KEY || undefined;
  } catch (e) {
    return undefined; // no `process` here: not in the Build environment
  }
}

let client = null;
function environmentClient() {
  if (!client) client = new GoogleGenAI({ apiKey: managedKey() || NO_KEY });
  return client;
}

/* Proto JSON accepts snake_case too; the client knows its fields only by their camelCase names. */
function camel(object) {
  const out = {};
  for (const name of Object.keys(object || {})) {
    out[name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = object[name];
  }
  return out;
}

/* A GenerateContentRequest as the client's {contents, config}, the inverse of what it sends. */
function request(task, signal) {
  const body = camel(task.body || {});
  const config = camel(body.generationConfig || {});
  if (config.thinkingConfig) config.thinkingConfig = camel(config.thinkingConfig);
  for (const name of TOP_LEVEL) if (body[name] !== undefined) config[name] = body[name];
  config.abortSignal = signal;
  return { model: task.model, contents: body.contents || [], config: config };
}

/* The client's answers are objects with extras (the HTTP headers); the gateway wants the JSON. */
function plain(response) {
  const copy = JSON.parse(JSON.stringify(response));
  delete copy.sdkHttpResponse;
  return copy;
}

function unsupported(message) {
  const error = new Error(message);
  error.unsupported = true;
  return error;
}

/* The client throws ApiError{status, message}; its message is Google's error body as JSON. */
function googleError(error) {
  if (!error || typeof error.status !== "number" || error.status < 100) return error;
  const text = String(error.message || "");
  const start = text.indexOf("{");
  const found = new Error(text.slice(0, 300) || "HTTP " + error.status);
  found.status = error.status;
  found.upstream = window["GeminiExecutor"].errorBody(error.status, start >= 0 ? text.slice(start) : text);
  return found;
}

/* One page of a listing as the REST answer has it; the client's pager keeps the next token in its
 * parameters (`params.config.pageToken`). */
function page(pager, key) {
  const answer = { [key]: pager.page.map(plain) };
  const next = pager.params && pager.params.config && pager.params.config.pageToken;
  if (next) answer.nextPageToken = next;
  return answer;
}

function listConfig(task, signal) {
  const params = task.params || {};
  const config = { abortSignal: signal };
  if (params.pageSize) config.pageSize = Number(params.pageSize);
  if (params.pageToken) config.pageToken = params.pageToken;
  return config;
}

/* Files API and cachedContents tasks, through the client's `files` and `caches`. */
async function resource(ai, task, signal) {
  const body = camel(task.body || {});
  switch (task.method) {
    case "files.upload": {
      const file = camel(body.file || {});
      const config = { mimeType: task.blob.type, abortSignal: signal };
      if (file.displayName) config.displayName = file.displayName;
      if (file.name) config.name = file.name;
      return { file: plain(await ai.files.upload({ file: task.blob, config })) };
    }
    case "files.get":
      return plain(await ai.files.get({ name: task.name, config: { abortSignal: signal } }));
    case "files.list":
      return page(await ai.files.list({ config: listConfig(task, signal) }), "files");
    case "files.delete":
      await ai.files.delete({ name: task.name, config: { abortSignal: signal } });
      return {};
    case "cachedContents.create": {
      const config = { abortSignal: signal };
      for (const name of CACHE_FIELDS) if (body[name] !== undefined) config[name] = body[name];
      return plain(await ai.caches.create({ model: body.model, config }));
    }
    case "cachedContents.get":
      return plain(await ai.caches.get({ name: task.name, config: { abortSignal: signal } }));
    case "cachedContents.list":
      return page(await ai.caches.list({ config: listConfig(task, signal) }), "cachedContents");
    case "cachedContents.patch": {
      const config = { abortSignal: signal };
      if (body.ttl !== undefined) config.ttl = body.ttl;
      if (body.expireTime !== undefined) config.expireTime = body.expireTime;
      return plain(await ai.caches.update({ name: task.name, config }));
    }
    case "cachedContents.delete":
      await ai.caches.delete({ name: task.name, config: { abortSignal: signal } });
      return {};
    default:
      throw unsupported("the Build app does not run " + task.method);
  }
}

async function perform(task, signal, emit) {
  const ai = environmentClient();
  const body = camel(task.body || {});
  try {
    switch (task.method) {
      case "streamGenerateContent": {
        const stream = await ai.models.generateContentStream(request(task, signal));
        for await (const chunk of stream) emit(plain(chunk));
        return;
      }
      case "generateContent":
        emit(plain(await ai.models.generateContent(request(task, signal))));
        return;
      case "countTokens": {
        const inner = body.generateContentRequest ? camel(body.generateContentRequest) : body;
        if (Object.keys(inner).some((name) => name !== "contents" && name !== "model")) {
          throw unsupported("the Build environment's client counts the tokens of contents only");
        }
        const config = { abortSignal: signal };
        emit(plain(await ai.models.countTokens({ model: task.model, contents: inner.contents || [], config })));
        return;
      }
      case "embedContent": {
        const config = { taskType: body.taskType, title: body.title, outputDimensionality: body.outputDimensionality };
        config.abortSignal = signal;
        const answer = await ai.models.embedContent({ model: task.model, contents: [body.content], config });
        emit({ embedding: answer.embeddings[0] });
        return;
      }
      default:
        emit(await resource(ai, task, signal));
        return;
    }
  } catch (error) {
    throw googleError(error);
  }
}

const panel = document.getElementById("panel");
window["GeminiExecutorUI"].boot(panel, {
  gateway: GATEWAY,
  hide: ["endpoint", "apiKey"],
  capabilities: CAPABILITIES,
  client: "gemini-gateway-build-app/1",
  perform: perform,
});
