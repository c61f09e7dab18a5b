// The chat window. What the visitor sees is kept in this origin's
// localStorage, so a reload or a closed tab shows it again. Messages go out
// one at a time, oldest first, each with an id made here: after a dropped
// connection the same message is sent again with the same id, which ayuda
// stores once and answers the same. What agents write is fetched with a
// long poll that acknowledges what has been shown (after=), so nothing is
// lost and nothing is shown twice. Text is only ever set as text, never as
// markup.
(function () {
  "use strict";
  var params = new URLSearchParams(location.hash.slice(1));
  var lang = params.get("lang");
  if (lang !== "es" && lang !== "en") lang = (navigator.language || "es").slice(0, 2) === "en" ? "en" : "es";
  var T = {
    es: {
      title: "Chat de ayuda", close: "Cerrar el chat", label: "Escribe tu mensaje", placeholder: "Escribe tu pregunta…",
      send: "Enviar", sending: "enviando…", sent: "enviado", seen: "recibido ✓", failed: "no se pudo enviar",
      offline: "Sin conexión: tus mensajes se enviarán en cuanto vuelva.", slow: "Vas muy rápido: espera un momento.",
      welcome: "Hola, ¿en qué te ayudo? Escribe tu pregunta."
    },
    en: {
      title: "Help chat", close: "Close the chat", label: "Write your message", placeholder: "Type your question…",
      send: "Send", sending: "sending…", sent: "sent", seen: "received ✓", failed: "could not be sent",
      offline: "No connection: your messages will be sent as soon as it is back.", slow: "You are going fast: wait a moment.",
      welcome: "Hi, how can I help? Type your question."
    }
  }[lang];
  var user = params.get("user") || "";
  var key = "ayuda-chat:" + (user ? "u:" + user : "visitor");
  var state = read();
  var visible = window.parent === window;

  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var text = document.getElementById("text");
  var status = document.getElementById("status");
  document.documentElement.lang = lang;
  document.title = params.get("title") || T.title;
  document.getElementById("title").textContent = params.get("title") || T.title;
  document.getElementById("close").setAttribute("aria-label", T.close);
  document.getElementById("close").hidden = visible;
  document.getElementById("text-label").textContent = T.label;
  document.getElementById("send").textContent = T.send;
  text.placeholder = T.placeholder;

  function read() {
    var s = null;
    try { s = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { s = null; }
    if (!s || typeof s !== "object") s = {};
    s.items = Array.isArray(s.items) ? s.items : [];
    s.pending = Array.isArray(s.pending) ? s.pending : [];
    s.after = typeof s.after === "number" ? s.after : 0;
    return s;
  }
  function save() {
    try { localStorage.setItem(key, JSON.stringify(state)); } catch (e) { /* private mode: this tab only */ }
  }
  function newID() {
    var b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function render() {
    log.textContent = "";
    if (state.items.length === 0) add({ who: "bot", text: T.welcome });
    var last = -1;
    state.items.forEach(function (it, i) { if (it.who === "bot" && it.choices && it.choices.length) last = i; });
    state.items.forEach(function (it, i) { add(it, i === last && i === state.items.length - 1); });
    log.scrollTop = log.scrollHeight;
  }
  function add(it, withChoices) {
    var div = document.createElement("div");
    div.className = "msg " + (it.who === "me" ? "me" : "bot");
    div.textContent = it.text || "";
    if (it.who === "me" && it.state) {
      var st = document.createElement("span");
      st.className = "state";
      st.textContent = T[it.state] || "";
      div.appendChild(st);
    }
    if (withChoices) {
      var box = document.createElement("div");
      box.className = "choices";
      it.choices.forEach(function (c) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = c.label;
        b.addEventListener("click", function () { say(c.id, c.label); });
        box.appendChild(b);
      });
      div.appendChild(box);
    }
    log.appendChild(div);
  }

  function find(id) {
    for (var i = 0; i < state.items.length; i++) if (state.items[i].id === id) return state.items[i];
    return null;
  }
  function mark(id, st) {
    var it = find(id);
    if (it && it.state !== "seen") it.state = st;
  }

  // say queues what the visitor wrote (or the choice pressed: its id goes
  // out, its label is shown).
  function say(value, shown) {
    var id = newID();
    state.items.push({ who: "me", id: id, text: shown || value, state: "sending" });
    state.pending.push({ id: id, text: value });
    save();
    render();
    pump();
  }

  function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    return fetch(path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, cache: "no-store", credentials: "omit" })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (data) {
          if (res.ok) return data;
          var err = new Error(data.error || ("HTTP " + res.status));
          err.status = res.status;
          throw err;
        });
      });
  }
  function session() {
    if (state.token) return Promise.resolve();
    var body = user ? { user: user, user_hash: params.get("hash") || "" } : {};
    return api("POST", "/chat/api/session", body).then(function (r) {
      state.token = r.token;
      state.after = 0;
      save();
    });
  }
  function retryable(err) { return !err.status || err.status === 429 || err.status >= 500; }
  function problem(err) {
    status.textContent = err.status === 429 ? T.slow : T.offline;
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  var pumping = false;
  function pump() {
    if (pumping) return;
    pumping = true;
    var wait = 1000;
    (function next() {
      if (state.pending.length === 0) { pumping = false; return; }
      var p = state.pending[0];
      session().then(function () {
        return api("POST", "/chat/api/messages", { id: p.id, text: p.text, locale: navigator.language || "", name: params.get("name") || "" });
      }).then(function (r) {
        status.textContent = "";
        wait = 1000;
        state.pending.shift();
        mark(p.id, "sent");
        var rep = r.reply || {};
        if (rep.seen) mark(p.id, "seen");
        if (rep.text || (rep.choices && rep.choices.length)) {
          if (!state.items.some(function (it) { return it.re === p.id; })) {
            state.items.push({ who: "bot", re: p.id, text: rep.text || "", choices: rep.choices || [] });
          }
        }
        save();
        render();
        next();
      }, function (err) {
        if (err.status === 401) { state.token = ""; save(); return next(); }
        if (retryable(err)) {
          problem(err);
          return sleep(wait).then(function () { wait = Math.min(wait * 2, 8000); next(); });
        }
        state.pending.shift();
        mark(p.id, "failed");
        save();
        render();
        next();
      });
    })();
  }

  function poll() {
    var wait = 1000;
    (function next() {
      session().then(function () {
        return api("GET", "/chat/api/messages?after=" + state.after + "&wait=25s");
      }).then(function (r) {
        wait = 1000;
        var got = false;
        (r.messages || []).forEach(function (m) {
          if (m.seq <= state.after) return;
          state.after = m.seq;
          var rep = m.reply || {};
          if (rep.text || (rep.choices && rep.choices.length)) {
            state.items.push({ who: "bot", seq: m.seq, text: rep.text || "", choices: rep.choices || [] });
            got = true;
          }
        });
        // Saved before the next poll acknowledges it.
        save();
        if (got) {
          render();
          if (!visible) window.parent.postMessage("ayuda:unread", "*");
        }
        next();
      }, function (err) {
        if (err.status === 401) { state.token = ""; save(); }
        return sleep(wait).then(function () { wait = Math.min(wait * 2, 8000); next(); });
      });
    })();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var v = text.value.trim();
    if (!v) return;
    text.value = "";
    say(v);
  });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  document.getElementById("close").addEventListener("click", function () {
    window.parent.postMessage("ayuda:close", "*");
  });
  window.addEventListener("message", function (e) {
    if (e.source !== window.parent) return;
    if (e.data === "ayuda:open") { visible = true; text.focus(); log.scrollTop = log.scrollHeight; }
    if (e.data === "ayuda:hidden") visible = false;
  });
  window.addEventListener("online", pump);
  // Another tab of the same site writes the same conversation.
  window.addEventListener("storage", function (e) {
    if (e.key === key) { state = read(); render(); }
  });

  render();
  pump();
  poll();
})();
