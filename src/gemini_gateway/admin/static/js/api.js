// The management API client: same-origin fetch with the session cookie and the CSRF header.

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const listeners = new Set();
export function onUnauthorized(fn) {
  listeners.add(fn);
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)gw_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function headers(extra = {}) {
  return { "x-csrf-token": csrfToken(), ...extra };
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    message = body?.error?.message || body?.detail || message;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, message, response.headers.get("retry-after"));
}

export async function api(path, { method = "GET", body, raw = false, contentType, quiet401 = false } = {}) {
  const init = { method, headers: headers(), credentials: "same-origin" };
  if (body !== undefined) {
    if (contentType) {
      init.headers["content-type"] = contentType;
      init.body = body;
    } else {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !quiet401) listeners.forEach((fn) => fn());
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "" && value !== false) search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Response headers arrive as latin-1 text; the gateway sends UTF-8 (executor names may not be ASCII).
export function utf8Header(value) {
  if (!value) return value;
  try {
    return new TextDecoder().decode(Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff));
  } catch {
    return value;
  }
}
