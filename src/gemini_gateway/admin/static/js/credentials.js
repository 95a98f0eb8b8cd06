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

// The credential a record or event names: by id, else by its mask when only one credential has it
// (live events and the x-gateway-credential header carry the mask alone; masks can coincide).
function lookup(names, id, label) {
  if (id) return names.get(id) || null;
  if (!label) return null;
  const matches = [...names.values()].filter((c) => c.label === label);
  return matches.length === 1 ? matches[0] : null;
}

// "name (mask)" as text, or the mask alone when the credential has no name.
export function credentialText(names, id, label) {
  const known = lookup(names, id, label);
  const mask = label || known?.label || id || "";
  return known?.name ? `${known.name} (${mask})` : mask;
}

export function credentialLabel(names, id, label) {
  const known = lookup(names, id, label);
  const mask = label || known?.label || id || "–";
  if (!known?.name) return h("span", { class: "mono" }, mask);
  return h("span", {}, h("b", { class: "cred-name" }, known.name), " ", h("span", { class: "mono faint" }, mask));
}
