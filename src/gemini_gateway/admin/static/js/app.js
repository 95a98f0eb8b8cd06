// The admin UI shell: login, navigation (hash routes), theme, and the page lifecycle.
// Each page module exports `render(main, params)` and may return a cleanup function.
import { api, ApiError, onUnauthorized } from "./api.js";
import { clear, h, icon, toast } from "./dom.js";
import { LANGUAGES, language, setLanguage, t } from "./i18n.js";

const PAGES = [
  { path: "dashboard", title: "nav.dashboard", icon: "dashboard", load: () => import("./pages/dashboard.js") },
  { path: "pool", title: "nav.pool", icon: "pool", load: () => import("./pages/pool.js") },
  { path: "aistudio", title: "nav.aistudio", icon: "studio", load: () => import("./pages/aistudio.js") },
  { path: "requests", title: "nav.requests", icon: "requests", load: () => import("./pages/requests.js") },
  { path: "live", title: "nav.live", icon: "live", load: () => import("./pages/live.js") },
  { path: "playground", title: "nav.playground", icon: "playground", load: () => import("./pages/playground.js") },
  { path: "tokens", title: "nav.tokens", icon: "tokens", load: () => import("./pages/tokens.js") },
  { path: "settings", title: "nav.settings", icon: "settings", load: () => import("./pages/settings.js") },
  { path: "api", title: "nav.api", icon: "code", load: () => import("./pages/apiref.js") },
  // Not in the menu: where an empty pool starts (the first run), also linked from the Pool page.
  { path: "welcome", title: "nav.welcome", icon: "plus", hidden: true, load: () => import("./pages/welcome.js") },
];

const app = document.getElementById("app");
let session = null;
let cleanup = null;
let shell = null;

// Theme: the system's by default, or the one picked here (remembered in this browser).
function applyTheme(theme) {
  const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}
applyTheme(localStorage.getItem("gw-theme"));

function toggleTheme() {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("gw-theme", next);
  applyTheme(next);
  route();
}

// The language switch (in the sidebar's foot, the phone header and the sign-in card): the choice is
// remembered in this browser and the page drawn again in it.
function languageSwitch() {
  return h(
    "select",
    {
      class: "lang-switch",
      name: "language",
      "aria-label": t("app.language"),
      onchange: (event) => {
        setLanguage(event.target.value);
        if (session) {
          shell = null;
          route();
        } else loginView();
      },
    },
    LANGUAGES.map(([code, name]) => h("option", { value: code, selected: code === language(), lang: code === "zh" ? "zh-CN" : "en" }, name)),
  );
}

function brand() {
  return h("div", { class: "brand" }, h("img", { src: "/admin/static/favicon.svg", alt: "" }), h("div", {}, "gemini-gateway", h("small", {}, t("app.console"))));
}

function loginView(message = "") {
  cleanup?.();
  cleanup = null;
  shell = null;
  const error = h("div", { class: "error", role: "alert" }, message);
  const input = h("input", { type: "password", name: "token", placeholder: t("login.token"), autocomplete: "current-password", required: true, "aria-label": t("login.token") });
  const button = h("button", { class: "primary", type: "submit" }, t("login.signIn"));
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        error.textContent = "";
        try {
          session = await api("/api/session", { method: "POST", body: { token: input.value }, quiet401: true });
          input.value = "";
          start();
        } catch (exc) {
          error.textContent = exc instanceof ApiError && exc.status === 401 ? t("login.wrong") : t("app.failed", { message: exc.message });
          input.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    h("div", { class: "row", style: { justifyContent: "space-between" } }, brand(), languageSwitch()),
    h("label", { class: "field" }, t("login.token"), input),
    error,
    button,
    h("p", { class: "faint", style: { margin: 0, fontSize: "12px" } }, t("login.hint")),
  );
  clear(app, h("main", { class: "login" }, form));
  app.className = "";
  input.focus();
}

function buildShell() {
  const nav = h(
    "nav",
    { class: "nav" },
    PAGES.filter((p) => !p.hidden).map((p) => h("a", { href: `#/${p.path}`, dataset: { path: p.path } }, icon(p.icon), t(p.title))),
  );
  const themeButton = h("button", { class: "ghost", onclick: toggleTheme, title: t("app.themeTitle") }, icon("sun"), t("app.theme"));
  const logout = h("button", { class: "ghost", onclick: signOut }, icon("logout"), t("app.signOut"));
  const main = h("main", { class: "main", id: "main" });
  const root = h(
    "div",
    { class: "shell" },
    h(
      "aside",
      { class: "sidebar" },
      brand(),
      nav,
      h("div", { class: "sidebar-foot" }, h("div", { class: "who" }, t("app.signedInAs", { who: session?.identity || "admin" })), languageSwitch(), themeButton, logout),
    ),
    h("div", { class: "scrim" }),
    h(
      "div",
      { class: "content" },
      h(
        "header",
        { class: "topbar" },
        h("button", { class: "ghost", "aria-label": t("app.menu") }, icon("menu")),
        h("span", { class: "title grow", id: "topbar-title" }, "gemini-gateway"),
        languageSwitch(),
      ),
      main,
    ),
  );
  // At phone width the sidebar is off-screen until the menu opens: out of the tab order meanwhile.
  const sidebar = root.querySelector(".sidebar");
  const menuButton = root.querySelector(".topbar button");
  const narrow = matchMedia("(max-width: 760px)");
  const syncMenu = () => {
    const open = root.classList.contains("menu-open");
    sidebar.inert = narrow.matches && !open;
    menuButton.setAttribute("aria-expanded", String(open));
  };
  const setMenu = (open) => {
    root.classList.toggle("menu-open", open);
    syncMenu();
    if (open) sidebar.querySelector("a")?.focus();
  };
  menuButton.onclick = () => setMenu(!root.classList.contains("menu-open"));
  root.querySelector(".scrim").onclick = () => setMenu(false);
  sidebar.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && root.classList.contains("menu-open")) {
      setMenu(false);
      menuButton.focus();
    }
  });
  narrow.addEventListener("change", syncMenu);
  syncMenu();
  nav.addEventListener("click", () => {
    if (root.classList.contains("menu-open")) setMenu(false);
  });
  clear(app, root);
  app.className = "";
  return { root, nav, main };
}

async function signOut() {
  try {
    await api("/api/session", { method: "DELETE" });
  } catch {
    /* already gone */
  }
  session = null;
  location.hash = "";
  loginView();
}

let routeSeq = 0;

async function route() {
  if (!session) return;
  const seq = ++routeSeq; // a newer navigation wins over one still loading
  if (!shell) shell = buildShell();
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES.find((p) => p.path === name) || PAGES[0];
  for (const link of shell.nav.querySelectorAll("a")) link.classList.toggle("active", link.dataset.path === page.path);
  document.title = `${t(page.title)} · gemini-gateway`;
  document.getElementById("topbar-title").textContent = t(page.title);
  cleanup?.();
  cleanup = null;
  const view = h("div", { class: "page", dataset: { page: page.path } });
  clear(shell.main, h("div", { class: "boot" }, h("div", { class: "boot-mark" })));
  const module = await page.load();
  if (seq !== routeSeq) return;
  clear(shell.main, view);
  let done = null;
  try {
    done = (await module.render(view, rest.map(decodeURIComponent))) || null;
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 401)) {
      view.append(h("div", { class: "notice bad" }, t("app.pageFailed", { message: exc.message })));
    }
  }
  if (seq !== routeSeq) done?.();
  else cleanup = done;
}

async function start() {
  shell = null;
  if (!location.hash || location.hash === "#") {
    // An empty pool: the first run, so the page that fills it (hashchange routes).
    let empty = false;
    try {
      empty = (await api("/api/keys")).summary.total === 0;
    } catch {
      /* the dashboard says what is wrong */
    }
    location.hash = empty ? "#/welcome" : "#/dashboard";
  } else await route();
}

onUnauthorized(() => {
  if (session) toast(t("app.sessionEnded"), "warn");
  session = null;
  loginView();
});
window.addEventListener("hashchange", route);

(async () => {
  try {
    session = await api("/api/session", { quiet401: true });
    await start();
  } catch {
    loginView();
  }
})();
