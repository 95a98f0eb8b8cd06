/* Userscript start-up: a small floating panel in the host page, pointed at the serving gateway. */
(function (root) {
  "use strict";
  if (root.top !== root.self || root.executor) return; // once per tab, never inside frames
  var box = root.document.createElement("div");
  box.id = "gemini-gateway-executor";
  box.style.cssText =
    "position:fixed;right:12px;bottom:12px;z-index:2147483647;max-width:26rem;max-height:80vh;overflow:auto;" +
    "background:#fff;color:#1f2328;border:1px solid #d0d7de;border-radius:8px;padding:10px;" +
    "font:12px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px rgba(0,0,0,.15)";
  var title = root.document.createElement("strong");
  title.textContent = "gemini-gateway executor";
  box.appendChild(title);
  root.document.body.appendChild(box);
  root.GeminiExecutorUI.boot(box, { gateway: "{{GATEWAY_WS}}", ignoreQuery: true });
})(window);
