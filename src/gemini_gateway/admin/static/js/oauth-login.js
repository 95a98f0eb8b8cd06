// Add Google account: Gemini CLI's OAuth login, started here through /api/oauth/login. Google sends
// the sign-in tab back to this gateway's /admin/oauth2callback, which stores the account, while this
// dialog polls the login's status. Where that redirect cannot reach the gateway (a remote server),
// the user pastes the code Google shows, or the address the tab ended on.
// Add Antigravity account: the same dialog with `kind: "antigravity"` (Antigravity's own client and
// scopes, docs/antigravity.md); consumer accounts that Gemini CLI lost on 2026-06-18 sign in here.
import { api } from "./api.js";
import { h, icon, modal, toast } from "./dom.js";
import { t } from "./i18n.js";

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);
const POLL_MS = 1000;

// Per kind: the dialog's title, lead, paste hint and the words when no client is configured.
const TEXTS = {
  oauth: { title: "pool.addGoogle", lead: "oauth.lead", manual: "oauth.pasteManual", noClient: "oauth.noClient" },
  antigravity: { title: "pool.addAntigravity", lead: "oauth.ag.lead", manual: "oauth.ag.pasteManual", noClient: "oauth.ag.noClient" },
};

export function googleLoginDialog(refresh, kind = "oauth") {
  const texts = TEXTS[kind];
  // Google sends installed-app logins back to loopback addresses only; elsewhere the code is pasted.
  const loopback = LOOPBACK.has(location.hostname);
  let login = null; // {state, auth_url} of the login under way
  let timer = null;
  let over = false;

  modal(
    (close) => {
      const project = h("input", { name: "project_id", placeholder: t("pool.project.auto"), maxlength: 100, "aria-label": t("pool.project.label") });
      const status = h("div", { class: "hidden", role: "status" });
      const signIn = h("button", { class: "primary", type: "button", onclick: () => start() }, icon("user"), t("oauth.signIn"));
      const again = h("a", { class: "hidden", target: "_blank", rel: "noopener noreferrer" }, t("oauth.openAgain"));
      const pasted = h("input", { name: "code", class: "grow", autocomplete: "off", spellcheck: "false", "aria-label": t("oauth.codeLabel") });
      const finishButton = h("button", { type: "submit" }, icon("check"), t("oauth.finish"));
      const paste = h(
        "form",
        { class: "stack hidden", onsubmit: (event) => finish(event) },
        h(
          "label",
          { class: "field" },
          loopback ? t("oauth.pasteLoopback") : t(texts.manual),
          h("div", { class: "row" }, pasted, finishButton),
        ),
      );

      const say = (text, tone = "") => {
        status.textContent = text;
        status.className = tone ? `notice ${tone}` : "muted";
      };

      const done = (account) => {
        over = true;
        clearTimeout(timer);
        toast(t("oauth.added", { label: account.label }), "ok");
        close();
        refresh();
      };

      const fail = (message) => {
        clearTimeout(timer);
        login = null;
        say(t("app.failed", { message }), "bad");
        paste.classList.add("hidden");
        again.classList.add("hidden");
        project.disabled = false;
        signIn.disabled = false;
        signIn.lastChild.textContent = t("oauth.startAgain");
      };

      async function poll() {
        if (over || !login) return;
        const current = login;
        try {
          const result = await api(`/api/oauth/login/${encodeURIComponent(current.state)}`);
          if (over || login !== current) return;
          if (result.status === "done") return done(result.account);
          if (result.status === "failed") return fail(result.error);
        } catch (exc) {
          if (exc.status === 404 && login === current) return fail(exc.message);
        }
        timer = setTimeout(poll, POLL_MS);
      }

      async function start() {
        signIn.disabled = true;
        // Opened now, in the click, so that no popup blocker stops it; pointed at Google once known.
        const tab = window.open("about:blank", "_blank");
        if (tab) tab.opener = null;
        try {
          login = await api("/api/oauth/login", {
            method: "POST",
            body: { kind, mode: loopback ? "loopback" : "manual", project_id: project.value.trim() || null },
          });
        } catch (exc) {
          tab?.close();
          fail(exc.message);
          return;
        }
        if (tab) tab.location.href = login.auth_url;
        again.href = login.auth_url;
        again.textContent = tab ? t("oauth.openAgain") : t("oauth.open");
        again.classList.remove("hidden");
        paste.classList.remove("hidden");
        project.disabled = true;
        say(loopback ? t("oauth.waiting") : t("oauth.signInTab"));
        pasted.focus();
        timer = setTimeout(poll, POLL_MS);
      }

      async function finish(event) {
        event.preventDefault();
        if (!login || !pasted.value.trim()) return;
        finishButton.disabled = true;
        try {
          done(await api(`/api/oauth/login/${encodeURIComponent(login.state)}`, { method: "POST", body: { code: pasted.value } }));
        } catch (exc) {
          say(t("app.failed", { message: exc.message }), "bad"); // a login the failure ended shows as failed at the next poll
        } finally {
          finishButton.disabled = false;
        }
      }

      api("/api/oauth/accounts")
        .then((info) => {
          const configured = kind === "antigravity" ? info.antigravity?.client_configured : info.client_configured;
          if (!configured && !login) {
            clearTimeout(timer);
            say(t(texts.noClient), "bad");
            signIn.disabled = true;
          }
        })
        .catch(() => {});

      return h(
        "div",
        { class: "stack" },
        h("h2", {}, t(texts.title)),
        h("p", { class: "muted", style: { margin: 0 } }, t(texts.lead)),
        h("label", { class: "field" }, t("oauth.projectOptional"), project),
        h("div", { class: "row" }, signIn, again),
        status,
        paste,
        h("footer", {}, h("button", { type: "button", onclick: close }, t("common.close"))),
      );
    },
    () => {
      over = true;
      clearTimeout(timer);
    },
  );
}
