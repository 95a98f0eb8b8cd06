// The UI's two languages. Every text the UI shows comes from a catalogue (../i18n/en.js, zh.js:
// flat key → string maps with {placeholders}); the language is the one picked with the switch
// (remembered in this browser), else the browser's first: zh* → Chinese (Simplified), else English.
import en from "../i18n/en.js";
import zh from "../i18n/zh.js";

const CATALOGUES = { en, zh };
const LOCALES = { en: "en", zh: "zh-CN" };
export const LANGUAGES = [
  ["en", "English"],
  ["zh", "简体中文"],
];
const STORAGE = "gw-lang";

function chosen() {
  const saved = localStorage.getItem(STORAGE);
  if (saved && CATALOGUES[saved]) return saved;
  const first = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return /^zh\b/i.test(first) ? "zh" : "en";
}

let lang = chosen();
document.documentElement.lang = LOCALES[lang];

export function language() {
  return lang;
}

// The BCP 47 locale for dates and numbers, matching the UI's language (not the browser's).
export function locale() {
  return LOCALES[lang];
}

export function setLanguage(next) {
  if (!CATALOGUES[next]) return;
  localStorage.setItem(STORAGE, next);
  lang = next;
  document.documentElement.lang = LOCALES[lang];
}

// t("pool.added", { n: 3 }) → "3 added". A key missing from the catalogue shows as itself, so the
// browser tests see it (they fail on any raw key name in the page).
export function t(key, params) {
  const text = CATALOGUES[lang][key];
  if (text === undefined) return key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

// Counted text: `${key}.one` for 1, else `${key}.other` (Chinese has the same text in both).
export function tn(key, count, params = {}) {
  return t(`${key}.${count === 1 ? "one" : "other"}`, { n: count, ...params });
}

// A value of the API (a health, a kind, a source...) shown in words: `${group}.${value}` when the
// catalogue has it, else the value itself (a name the UI does not know, shown as data).
export function tv(group, value) {
  if (value === null || value === undefined) return "";
  const key = `${group}.${value}`;
  return CATALOGUES[lang][key] === undefined ? String(value) : CATALOGUES[lang][key];
}
