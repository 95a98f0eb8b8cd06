// AI Studio profiles: the saved logins page automation drives, and a remote sign-in for servers
// without a display (aistudio/remote_login.py through /api/aistudio/logins). The sign-in window
// runs in the gateway's own headless browser; this page shows it as a picture refreshed every
// second or so, and relays clicks on the picture (scaled to the window's viewport), typed text and
// keys. Finish saves the window's login as the profile; Close throws it away.
//
// The picture is an <img> whose src is the screenshot route itself (same origin, the session cookie
// goes along): the page's Content Security Policy (img-src 'self' data:) needs no blob: for it.
import { api } from "../api.js";
import { ago, clear, confirmDialog, h, icon, toast, when } from "../dom.js";
import { t } from "../i18n.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/; // aistudio/profiles.py's rule, checked again there
const REFRESH_MS = 1200;
const SHOT_WAIT_MS = 8000;
// Keys relayed from the picture when it has the focus (remote_login.KEYS, Tab aside: Tab moves the
// focus on this page, as keyboard users expect; the Tab button sends it).
const RELAYED = new Set(["Enter", "Backspace", "Delete", "Escape", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"]);
const KEY_BUTTONS = ["Enter", "Tab", "Backspace", "Escape"];

export async function render(main, params) {
  const [windowId] = params;
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("studio.title")), h("p", {}, t("studio.lead")))));
  if (windowId) return loginWindow(main, windowId);
  await profilesView(main);
  return null;
}

// The list of profiles and the form that opens a sign-in window.
async function profilesView(main) {
  const name = h("input", { name: "profile_name", required: true, maxlength: 64, autocomplete: "off", spellcheck: "false", placeholder: t("studio.name.placeholder"), "aria-label": t("studio.name.label"), "aria-describedby": "studio-name-hint" });
  const status = h("div", { role: "alert" });
  const openButton = h("button", { class: "primary", type: "submit" }, icon("user"), t("studio.open"));
  async function open(profile) {
    if (!NAME.test(profile)) {
      status.textContent = t("studio.name.bad");
      status.className = "notice bad";
      name.focus();
      return;
    }
    openButton.disabled = true;
    status.textContent = t("studio.opening");
    status.className = "muted";
    try {
      const opened = await api("/api/aistudio/logins", { method: "POST", body: { name: profile } });
      location.hash = `#/aistudio/${encodeURIComponent(opened.id)}`;
    } catch (exc) {
      status.textContent = t("app.failed", { message: exc.message });
      status.className = "notice bad";
    } finally {
      openButton.disabled = false;
    }
  }
  const form = h(
    "form",
    { class: "stack", onsubmit: (event) => { event.preventDefault(); open(name.value.trim()); } },
    h("label", { class: "field" }, t("studio.name.label"), name),
    h("p", { class: "faint", id: "studio-name-hint", style: { margin: 0 } }, t("studio.name.hint")),
    h("div", { class: "row" }, openButton),
    status,
  );
  // Sign-in windows still open (left for another page, or a reload): found again from here.
  const windows = h("section", { class: "card stack studio-windows", hidden: true });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "cards studio-profiles" },
    h("thead", {}, h("tr", {}, h("th", {}, t("studio.col.profile")), h("th", {}, t("studio.col.login")), h("th", {}, t("studio.col.saved")), h("th", {}, h("span", { class: "sr-only" }, t("common.actions"))))),
    tbody,
  );
  main.append(
    h("div", { class: "grid two" },
      h("section", { class: "card stack" }, h("header", {}, h("h2", {}, t("studio.signIn.title"))), h("p", { class: "muted", style: { margin: 0 } }, t("studio.signIn.lead")), form),
      h("section", { class: "card" }, h("header", {}, h("h2", {}, t("studio.profiles.title"))), h("div", { class: "table-wrap" }, table)),
    ),
    windows,
  );
  api("/api/aistudio/logins").then(({ logins }) => {
    if (!logins.length) return;
    const items = logins.map((w) =>
      h(
        "li",
        { dataset: { window: w.id } },
        h("span", { class: "mono" }, w.name),
        " ",
        h("span", { class: "faint" }, t("studio.windows.opened", { when: ago(w.opened) })),
        " ",
        h("a", { href: `#/aistudio/${encodeURIComponent(w.id)}`, "aria-label": `${t("studio.windows.resume")}: ${w.name}` }, t("studio.windows.resume")),
      ),
    );
    clear(
      windows,
      h("header", {}, h("h2", {}, t("studio.windows.title"))),
      h("p", { class: "muted", style: { margin: 0 } }, t("studio.windows.lead")),
      h("ul", { class: "holds" }, items),
    );
    windows.hidden = false;
  }).catch(() => {}); // the list is a convenience: the page works without it
  let data;
  try {
    data = await api("/api/aistudio/profiles");
  } catch (exc) {
    clear(tbody, h("tr", {}, h("td", { colspan: 4, class: "empty" }, t("app.failed", { message: exc.message }))));
    return;
  }
  const rows = data.profiles.map((p) => {
    const meta = p.credential?.meta || {};
    // The page found itself on the sign-in screen, or the saved session cookies have expired.
    const needsLogin = p.expired || meta.state === "login_required" || p.error;
    return h(
      "tr",
      { dataset: { profile: p.name } },
      h("td", {}, h("span", { class: "cell-main mono", id: `profile-${p.name}` }, p.name)),
      h(
        "td",
        { "data-label": t("studio.col.login") },
        h("span", { class: `badge ${needsLogin ? "bad" : "ok"}` }, needsLogin ? t("studio.login.needed") : t("studio.login.ok")),
        p.google_session === false && !p.error ? h("div", { class: "cell-sub" }, t("studio.login.noSession")) : null,
        p.session_expires ? h("div", { class: "cell-sub" }, t("studio.login.expires", { when: when(p.session_expires * 1000) })) : null,
        p.error ? h("div", { class: "cell-sub", lang: "en" }, p.error) : null,
      ),
      h("td", { "data-label": t("studio.col.saved") }, p.saved_at ? ago(p.saved_at) : "–", p.cookies !== undefined ? h("div", { class: "cell-sub" }, t("studio.cookies", { n: p.cookies })) : null),
      h("td", { class: "wide" }, h("div", { class: "actions" }, h("button", { class: "small", name: "sign_in_again", "aria-describedby": `profile-${p.name}`, onclick: () => open(p.name) }, t("studio.again")))),
    );
  });
  clear(tbody, rows.length ? rows : h("tr", {}, h("td", { colspan: 4, class: "empty" }, t("studio.profiles.empty"))));
}

// One sign-in window: its picture, the relayed input, Finish and Close.
function loginWindow(main, windowId) {
  const base = `/api/aistudio/logins/${encodeURIComponent(windowId)}`;
  let viewport = { width: 1024, height: 768 };
  let alive = true;
  let timer = null;
  let shots = 0;
  let queue = Promise.resolve(); // input in the order it was given

  const title = h("h2", {}, t("studio.window.title"));
  const signedBadge = h("span", { class: "badge warn", role: "status" }, t("studio.window.notYet"));
  const address = h("span", { class: "mono faint truncate window-url" });
  const picture = h("img", { class: "remote-shot", alt: t("studio.window.alt"), draggable: "false" });
  const screen = h(
    "div",
    { class: "remote-screen", tabindex: "0", role: "application", "aria-label": t("studio.window.screen"), "aria-describedby": "studio-screen-hint" },
    picture,
  );
  const text = h("input", { type: "password", name: "relay_text", autocomplete: "off", spellcheck: "false", maxlength: 1000, "aria-label": t("studio.type.label") });
  const typeButton = h("button", { type: "submit" }, t("studio.type.button"));
  const keys = KEY_BUTTONS.map((key) => h("button", { type: "button", class: "small", name: `key_${key}`, onclick: () => send({ key }) }, t(`studio.key.${key}`)));
  const finishButton = h("button", { class: "primary", type: "button", name: "finish", disabled: true, onclick: () => finish() }, icon("check"), t("studio.finish"));
  const closeButton = h("button", { class: "danger", type: "button", name: "close_window", onclick: () => closeWindow() }, icon("x"), t("studio.close"));
  const status = h("div", { role: "alert" });

  function say(message, tone = "bad") {
    status.textContent = message;
    status.className = message ? `notice ${tone}` : "";
  }

  function show(view) {
    viewport = view.viewport || viewport;
    clear(title, t("studio.window.title"), " · ", h("span", { class: "mono" }, view.name)); // a name is data, shown as typed
    address.textContent = view.url;
    address.title = view.url;
    signedBadge.textContent = view.signed_in ? t("studio.window.signedIn") : t("studio.window.notYet");
    signedBadge.className = `badge ${view.signed_in ? "ok" : "warn"}`;
    finishButton.disabled = !view.signed_in;
  }

  function gone(message) {
    alive = false;
    clearTimeout(timer);
    clear(
      main,
      main.firstChild,
      h("div", { class: "notice warn", role: "alert" }, message || t("studio.window.gone"), " ", h("a", { href: "#/aistudio" }, t("studio.back"))),
    );
  }

  // A new picture: loaded aside, then put in place (no blank frame while it loads). A screenshot
  // taken mid-navigation may be slow: the refreshing goes on after SHOT_WAIT_MS regardless.
  function reload() {
    return new Promise((resolve) => {
      const next = new Image();
      const waited = setTimeout(resolve, SHOT_WAIT_MS);
      next.onload = () => {
        clearTimeout(waited);
        if (alive) picture.src = next.src;
        resolve();
      };
      next.onerror = () => {
        clearTimeout(waited);
        resolve();
      };
      next.src = `${base}/screenshot?n=${++shots}`;
    });
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      show(await api(base));
      await reload();
    } catch (exc) {
      if (exc.status === 404) return gone();
      say(t("app.failed", { message: exc.message }));
    }
    if (alive) timer = setTimeout(refresh, REFRESH_MS);
  }

  // One action after the other, in the order given; the picture is taken again once none waits
  // (keys typed quickly are not each followed by a screenshot).
  let pending = 0;
  function send(action) {
    pending += 1;
    queue = queue.then(async () => {
      pending -= 1;
      if (!alive) return;
      try {
        show(await api(`${base}/input`, { method: "POST", body: action }));
        say("");
        if (!pending) await reload();
      } catch (exc) {
        if (exc.status === 404) return gone();
        say(t("app.failed", { message: exc.message }));
      }
    });
    return queue;
  }

  // A click on the picture, in the window's own coordinates (the picture is scaled to fit).
  picture.addEventListener("click", (event) => {
    const box = picture.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const x = Math.round(((event.clientX - box.left) / box.width) * viewport.width);
    const y = Math.round(((event.clientY - box.top) / box.height) * viewport.height);
    screen.focus();
    send({ click: [Math.min(Math.max(x, 0), viewport.width), Math.min(Math.max(y, 0), viewport.height)] });
  });

  // Keys pressed while the picture has the focus go to the window: characters as typed text.
  screen.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (RELAYED.has(event.key)) {
      event.preventDefault();
      send({ key: event.key });
    } else if (event.key === " ") {
      event.preventDefault();
      send({ key: "Space" });
    } else if (event.key.length === 1) {
      event.preventDefault();
      send({ type: event.key });
    }
  });

  async function finish() {
    finishButton.disabled = true;
    await queue;
    try {
      const saved = await api(`${base}/finish`, { method: "POST" });
      alive = false;
      clearTimeout(timer);
      toast(t("studio.saved", { name: saved.name }), "ok");
      location.hash = "#/aistudio";
    } catch (exc) {
      if (exc.status === 404) return gone();
      say(t("app.failed", { message: exc.message }));
      finishButton.disabled = false;
    }
  }

  async function closeWindow() {
    if (!(await confirmDialog(t("studio.close.confirm"), t("studio.close.text"), t("studio.close")))) return;
    alive = false;
    clearTimeout(timer);
    try {
      await api(base, { method: "DELETE" });
    } catch {
      /* closed already: idle, or from another tab */
    }
    toast(t("studio.closed"), "ok");
    location.hash = "#/aistudio";
  }

  const typeForm = h(
    "form",
    {
      class: "row relay-type",
      onsubmit: (event) => {
        event.preventDefault();
        if (!text.value) return text.focus();
        const value = text.value;
        text.value = ""; // typed into the window; not kept on this page (it may be a password)
        send({ type: value });
      },
    },
    h("label", { class: "field grow" }, t("studio.type.label"), text),
    typeButton,
  );

  main.append(
    h(
      "section",
      { class: "card stack remote-login" },
      h("header", { class: "row" }, title, signedBadge, h("span", { class: "grow" }), address),
      h("p", { class: "muted", id: "studio-screen-hint", style: { margin: 0 } }, t("studio.window.hint")),
      screen,
      typeForm,
      h("div", { class: "row", role: "group", "aria-label": t("studio.keys") }, h("span", { class: "faint" }, t("studio.keys")), keys),
      status,
      h("p", { class: "faint", style: { margin: 0 } }, t("studio.finish.hint")),
      h("footer", { class: "row" }, finishButton, closeButton, h("a", { href: "#/aistudio" }, t("studio.back"))),
    ),
  );
  refresh();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}
