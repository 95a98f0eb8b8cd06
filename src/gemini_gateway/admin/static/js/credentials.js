// Operators' names for credentials, by credential id: shown beside the mask wherever one appears.
import { api } from "./api.js";
import { h } from "./dom.js";

let cached = null;
let fetchedAt = 0;

export async function credentialNames(maxAgeMs = 5000) {
  if (!cached || Date.now() - fetchedAt > maxAgeMs) {
    try {
      const data = await api("/api/keys");
      cached = new Map(data.credentials.map((c) => [c.id, { label: c.label, name: c.name }]));
      fetchedAt = Date.now();
    } catch {
      cached ||= new Map();
    }
  }
  return cached;
}

export function rememberNames(credentials) {
  cached = new Map(credentials.map((c) => [c.id, { label: c.label, name: c.name }]));
  fetchedAt = Date.now();
}

// "name (mask)" as text, or the mask alone when the credential has no name.
export function credentialText(names, id, label) {
  const known = id ? names.get(id) : null;
  const mask = label || known?.label || id || "";
  return known?.name ? `${known.name} (${mask})` : mask;
}

export function credentialLabel(names, id, label) {
  const known = id ? names.get(id) : null;
  const mask = label || known?.label || id || "–";
  if (!known?.name) return h("span", { class: "mono" }, mask);
  return h("span", {}, h("b", { class: "cred-name" }, known.name), " ", h("span", { class: "mono faint" }, mask));
}
