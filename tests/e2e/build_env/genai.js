/*
 * A stand-in for AI Studio's Build environment as an app sees it: the `@google/genai` module its
 * import map names, with the environment's proxy behind it. The app hands it no key of its own;
 * the calls reach the (fake) Gemini API with the environment's access, as AI Studio serves a
 * Build app's calls with the signed-in account.
 *
 * The surface is the real SDK's, for the calls the app makes: `new GoogleGenAI({apiKey})`,
 * `models.generateContent / generateContentStream / countTokens / embedContent` taking
 * `{model, contents, config}` (config.abortSignal honoured), answers carrying `sdkHttpResponse`,
 * failures thrown as `ApiError{status, message}` whose message is Google's error body as JSON.
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

export class GoogleGenAI {
  constructor(options) {
    environment.apiKeys.push(options ? options.apiKey : undefined);
    this.models = new Models();
  }
}
