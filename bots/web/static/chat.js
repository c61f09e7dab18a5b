// ayuda's website chat: <script src="https://ayuda.example/chat.js" async
// data-lang="es"></script> on any page adds a button that opens the chat in
// an iframe served by ayuda. The page's CSS cannot reach the button (a
// closed shadow root) nor the window (another document), and the window
// cannot read the page. Optional attributes:
//   data-lang       es or en (default: the page's lang, then the browser's)
//   data-title      the window's title
//   data-user       the id of the customer logged in on the site, with
//   data-user-hash  the hex HMAC-SHA256 of that id under the secret the
//                   site shares with ayuda (AYUDA_WEB_IDENTITY_SECRET)
//   data-name       the customer's name, shown to agents
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__ayudaChat) return;
  window.__ayudaChat = true;
  var origin = new URL(me.src, location.href).origin;
  var d = me.dataset;
  var pick = (d.lang || document.documentElement.lang || navigator.language || "es").slice(0, 2).toLowerCase();
  var lang = pick === "en" ? "en" : "es";
  var words = {
    es: { open: "Ayuda", openLabel: "Abrir el chat de ayuda", close: "Cerrar el chat de ayuda", title: "Chat de ayuda", unread: "Ayuda · nuevo" },
    en: { open: "Help", openLabel: "Open the help chat", close: "Close the help chat", title: "Help chat", unread: "Help · new" }
  }[lang];
  var frag = new URLSearchParams();
  frag.set("lang", lang);
  if (d.title) frag.set("title", d.title);
  if (d.user) {
    frag.set("user", d.user);
    frag.set("hash", d.userHash || "");
  }
  if (d.name) frag.set("name", d.name);

  var host = document.createElement("div");
  host.setAttribute("data-ayuda-chat", "");
  var root = host.attachShadow({ mode: "closed" });
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = words.open;
  button.setAttribute("aria-label", words.openLabel);
  button.setAttribute("aria-expanded", "false");
  // Styles are set through the CSSOM, which a page's Content-Security-Policy
  // allows where it would block a <style> element.
  button.style.cssText = "all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483646;" +
    "padding:0 20px;height:48px;border-radius:24px;background:#1a56b0;color:#fff;" +
    "font:600 16px/48px system-ui,-apple-system,'Segoe UI',sans-serif;cursor:pointer;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.3)";
  var frame = document.createElement("iframe");
  frame.title = words.title;
  frame.src = origin + "/chat/#" + frag.toString();
  frame.hidden = true;
  var wide = "position:fixed;right:20px;bottom:80px;z-index:2147483647;width:370px;height:560px;" +
    "max-width:calc(100vw - 40px);max-height:calc(100vh - 100px);border:0;border-radius:12px;" +
    "box-shadow:0 4px 24px rgba(0,0,0,.25);background:#fff;";
  var narrow = "position:fixed;left:0;top:0;z-index:2147483647;width:100vw;height:100vh;border:0;background:#fff;";
  var small = window.matchMedia("(max-width: 480px)");
  function place() {
    frame.style.cssText = (small.matches ? narrow : wide) + (frame.hidden ? "display:none;" : "");
  }
  function show(open) {
    frame.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) button.textContent = words.open;
    place();
    frame.contentWindow.postMessage(open ? "ayuda:open" : "ayuda:hidden", origin);
    if (!open) button.focus();
  }
  button.addEventListener("click", function () { show(frame.hidden); });
  small.addEventListener("change", place);
  window.addEventListener("message", function (e) {
    if (e.origin !== origin || e.source !== frame.contentWindow) return;
    if (e.data === "ayuda:close") show(false);
    if (e.data === "ayuda:unread" && frame.hidden) button.textContent = words.unread;
  });
  place();
  root.appendChild(frame);
  root.appendChild(button);
  (document.body || document.documentElement).appendChild(host);
})();
