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
const CAPABILITIES = ["generateContent", "streamGenerateContent", "countTokens", "embedContent"];
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
        throw unsupported("the Build app does not run " + task.method);
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
