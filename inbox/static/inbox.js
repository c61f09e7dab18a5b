// The agents' inbox. Everything shown is set as text, never as markup.
// Keyboard: ↑/↓ move in the queue, Enter opens, r writes a reply, n a
// note, Escape goes back to the queue.
(function () {
  "use strict";
  var S = {
    es: {
      pageTitle: "ayuda · bandeja", langLabel: "Idioma", logout: "Cerrar sesión", signinTitle: "Entrar en la bandeja",
      signinHelp: "Pega tu token de agente (ayuda agents token TU-ID).", tokenLabel: "Token de agente", signin: "Entrar",
      queue: "Cola", view: "Vista", team: "Equipo", priority: "Prioridad", type: "Tipo", channel: "Canal", any: "todas",
      views: { open: "abiertas", mine: "mías", unassigned: "sin asignar", waiting: "esperando al cliente", overdue: "vencidas", closed: "cerradas" },
      empty: "No hay solicitudes en esta vista.", back: "← Cola", offered: "Artículos que ofreció el bot",
      conversation: "Conversación", deliveries: "Entrega de mensajes", allDelivered: "Todo lo enviado al cliente se entregó.",
      queued: "en cola", undeliverable: "no entregable", delivered: "entregado ✓", history: "Historial", attempts: "intentos",
      noneOffered: "Ninguno.", reply: "Responder al cliente", note: "Nota interna",
      replyLabel: "Respuesta: la verá el cliente", noteLabel: "Nota interna: solo la ve el equipo, nunca el cliente",
      sendReply: "Enviar al cliente", sendNote: "Guardar nota interna",
      claim: "Asignármela", takeover: "Tomarla", takeoverWhy: "¿Por qué la tomas? (queda registrado)",
      setStatus: "Cambiar estado", classify: "Reclasificar",
      meta: { status: "Estado", priority: "Prioridad", type: "Tipo", team: "Equipo", assignee: "Asignada a", customer: "Cliente", channel: "Canal", reason: "Motivo", due: "Vence", earlier: "Anteriores" },
      target: { on_time: "a tiempo", warning: "a punto de vencer", missed: "vencida", none: "sin plazo" },
      dueWhat: { first_response: "primera respuesta", resolution: "resolución" },
      authors: { customer: "Cliente", bot: "Bot", agent: "Agente", system: "Sistema" },
      noteMark: "NOTA INTERNA", unassigned: "sin asignar", error: "No se pudo: ",
      statuses: { "new": "nueva", assigned: "asignada", in_progress: "en curso", waiting: "esperando al cliente", completed: "completada", closed: "cerrada", reopened: "reabierta" },
      reasons: { requested: "pidió una persona", low_confidence: "el bot no encontró respuesta", negative: "la respuesta no le sirvió", repeated_miss: "dos intentos sin respuesta", sensitive: "queja, reclamación o denuncia", new_request: "abrió una solicitud", staff: "personal interno" }
    },
    en: {
      pageTitle: "ayuda · inbox", langLabel: "Language", logout: "Sign out", signinTitle: "Sign in to the inbox",
      signinHelp: "Paste your agent token (ayuda agents token YOUR-ID).", tokenLabel: "Agent token", signin: "Sign in",
      queue: "Queue", view: "View", team: "Team", priority: "Priority", type: "Type", channel: "Channel", any: "all",
      views: { open: "open", mine: "mine", unassigned: "unassigned", waiting: "waiting on customer", overdue: "overdue", closed: "closed" },
      empty: "No requests in this view.", back: "← Queue", offered: "Articles the bot offered",
      conversation: "Conversation", deliveries: "Message delivery", allDelivered: "Everything sent to the customer was delivered.",
      queued: "queued", undeliverable: "undeliverable", delivered: "delivered ✓", history: "History", attempts: "attempts",
      noneOffered: "None.", reply: "Reply to customer", note: "Internal note",
      replyLabel: "Reply: the customer will see it", noteLabel: "Internal note: only the team sees it, never the customer",
      sendReply: "Send to customer", sendNote: "Save internal note",
      claim: "Assign to me", takeover: "Take over", takeoverWhy: "Why are you taking it over? (it is recorded)",
      setStatus: "Set status", classify: "Reclassify",
      meta: { status: "Status", priority: "Priority", type: "Type", team: "Team", assignee: "Assignee", customer: "Customer", channel: "Channel", reason: "Reason", due: "Due", earlier: "Earlier" },
      target: { on_time: "on time", warning: "due soon", missed: "overdue", none: "no target" },
      dueWhat: { first_response: "first response", resolution: "resolution" },
      authors: { customer: "Customer", bot: "Bot", agent: "Agent", system: "System" },
      noteMark: "INTERNAL NOTE", unassigned: "unassigned", error: "Could not: ",
      statuses: { "new": "new", assigned: "assigned", in_progress: "in progress", waiting: "waiting on customer", completed: "completed", closed: "closed", reopened: "reopened" },
      reasons: { requested: "asked for a person", low_confidence: "the bot found no answer", negative: "the answer did not help", repeated_miss: "two tries without an answer", sensitive: "complaint, claim or report", new_request: "opened a request", staff: "staff" }
    }
  };
  var STATUSES = ["new", "assigned", "in_progress", "waiting", "completed", "closed", "reopened"];
  var TYPES = ["consulta", "solicitud", "queja", "reclamo", "sugerencia", "denuncia"];
  var PRIORITIES = ["baja", "normal", "alta", "urgente"];
  var CHANNELS = ["telegram", "discord", "slack", "web", "console"];

  // The agent's choice, else the server's language (the page's lang).
  var lang = localStorage.getItem("ayuda-inbox-lang") || (document.documentElement.lang === "en" ? "en" : "es");
  var T = S[lang];
  var csrf = "";
  var current = 0;
  var mode = "reply";
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function when(s) {
    if (!s) return "";
    return new Date(s).toLocaleString(lang === "en" ? "en-GB" : "es-ES", { dateStyle: "short", timeStyle: "short" });
  }

  function api(method, path, body) {
    var h = { "Content-Type": "application/json" };
    if (csrf) h["X-CSRF-Token"] = csrf;
    return fetch(path, { method: method, headers: h, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (d) {
          if (res.ok) return d;
          var e = new Error(d.error || ("HTTP " + res.status));
          e.status = res.status;
          throw e;
        });
      });
  }

  function texts() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    $("lang-label").textContent = T.langLabel;
    $("logout").textContent = T.logout;
    $("signin-title").textContent = T.signinTitle;
    $("signin-help").textContent = T.signinHelp;
    $("token-label").textContent = T.tokenLabel;
    $("signin-button").textContent = T.signin;
    $("queue-title").textContent = T.queue;
    $("back").textContent = T.back;
    $("mode-reply").textContent = T.reply;
    $("mode-note").textContent = T.note;
    document.querySelectorAll("[data-t]").forEach(function (n) { n.textContent = T[n.getAttribute("data-t")]; });
    fill($("view"), Object.keys(T.views), function (v) { return T.views[v]; }, false);
    fill($("f-priority"), PRIORITIES, null, true);
    fill($("f-type"), TYPES, null, true);
    fill($("f-channel"), CHANNELS, null, true);
    fill($("f-team"), [], null, true);
    setMode(mode);
  }
  function fill(sel, values, label, any) {
    var keep = sel.value;
    sel.textContent = "";
    if (any) sel.appendChild(new Option(T.any, ""));
    values.forEach(function (v) { sel.appendChild(new Option(label ? label(v) : v, v)); });
    sel.value = keep || (any ? "" : values[0]);
  }

  function signedOut() {
    csrf = "";
    $("app").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("signin").hidden = false;
    $("token").focus();
  }
  function signedIn(me) {
    csrf = me.csrf;
    $("who").textContent = me.name;
    $("signin").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    loadQueue();
    live();
  }

  function loadQueue() {
    var q = "view=" + encodeURIComponent($("view").value);
    [["priority", "f-priority"], ["type", "f-type"], ["channel", "f-channel"]].forEach(function (p) {
      if ($(p[1]).value) q += "&" + p[0] + "=" + encodeURIComponent($(p[1]).value);
    });
    if ($("f-team").value) q += "&team=" + encodeURIComponent($("f-team").value);
    return api("GET", "/inbox/api/tickets?" + q).then(function (r) {
      var teams = {};
      r.tickets.forEach(function (t) { if (t.team) teams[t.team] = true; });
      if ($("f-team").value) teams[$("f-team").value] = true;
      fill($("f-team"), Object.keys(teams).sort(), null, true);
      var ul = $("tickets");
      ul.textContent = "";
      // The tab's title counts what nobody has taken yet, to be seen
      // from another tab.
      var waiting = r.tickets.filter(function (t) { return !t.assignee; }).length;
      document.title = (waiting ? "(" + waiting + ") " : "") + T.pageTitle;
      if (r.tickets.length === 0) ul.appendChild(el("li", "empty", T.empty));
      r.tickets.forEach(function (t) {
        var li = el("li");
        li.tabIndex = 0;
        li.dataset.id = t.id;
        if (t.id === current) li.setAttribute("aria-current", "true");
        var l1 = el("div", "line1");
        l1.appendChild(el("span", "num", "#" + t.id));
        l1.appendChild(el("span", "sum", t.summary || "—"));
        li.appendChild(l1);
        var l2 = el("div", "line1");
        l2.appendChild(el("span", "badge t-" + t.target, T.target[t.target] + (t.due ? " · " + when(t.due) : "")));
        l2.appendChild(el("span", "badge p-" + t.priority, t.priority));
        l2.appendChild(el("span", "badge", t.type));
        l2.appendChild(el("span", "badge", t.channel));
        l2.appendChild(el("span", "badge", t.assignee || T.unassigned));
        li.appendChild(l2);
        li.addEventListener("click", function () { open(t.id); });
        li.addEventListener("keydown", function (e) {
          if (e.key === "Enter") open(t.id);
          if (e.key === "ArrowDown" && li.nextElementSibling) { e.preventDefault(); li.nextElementSibling.focus(); }
          if (e.key === "ArrowUp" && li.previousElementSibling) { e.preventDefault(); li.previousElementSibling.focus(); }
        });
        ul.appendChild(li);
      });
    }, failed);
  }
  function failed(e) {
    if (e.status === 401) signedOut();
  }

  function open(id) {
    current = id;
    $("app").classList.add("open");
    return api("GET", "/inbox/api/tickets/" + id).then(function (r) {
      render(r);
      $("detail").hidden = false;
      document.querySelectorAll("#tickets li").forEach(function (li) {
        li.setAttribute("aria-current", String(Number(li.dataset.id) === id));
      });
    }, failed);
  }

  function render(r) {
    var t = r.ticket, s = r.summary;
    $("d-title").textContent = "#" + t.id + " · " + (t.summary || "");
    var dl = $("d-meta");
    dl.textContent = "";
    function row(k, v) { dl.appendChild(el("dt", "", T.meta[k])); var dd = el("dd"); if (typeof v === "string") dd.textContent = v; else dd.appendChild(v); dl.appendChild(dd); }
    row("status", T.statuses[t.status] || t.status);
    row("priority", t.priority + (t.priority_reason ? " (" + t.priority_reason + ")" : ""));
    row("type", t.type + (t.type_reason ? " (" + t.type_reason + ")" : ""));
    if (t.team) row("team", t.team);
    row("assignee", t.assignee || T.unassigned);
    row("customer", (t.customer.name || t.customer.address.user) + " · " + t.customer.address.platform);
    row("channel", t.channel);
    row("reason", T.reasons[t.reason] || t.reason);
    var due = el("span", "badge t-" + s.target, T.target[s.target] + (s.due ? " · " + (T.dueWhat[s.due_what] || "") + " " + when(s.due) : ""));
    row("due", due);
    if (t.earlier && t.earlier.length) {
      var span = el("span");
      t.earlier.forEach(function (id) {
        var b = el("button", "", "#" + id);
        b.type = "button";
        b.addEventListener("click", function () { open(id); });
        span.appendChild(b);
        span.appendChild(document.createTextNode(" "));
      });
      row("earlier", span);
    }

    var acts = $("d-actions");
    acts.textContent = "";
    function action(label, f) { var b = el("button", "", label); b.type = "button"; b.addEventListener("click", f); acts.appendChild(b); return b; }
    action(T.claim, function () { act("claim", {}); });
    action(T.takeover, function () { var why = prompt(T.takeoverWhy); if (why !== null) act("takeover", { text: why }); });
    var st = el("select"); st.setAttribute("aria-label", T.meta.status);
    STATUSES.forEach(function (v) { st.appendChild(new Option(T.statuses[v] || v, v)); }); st.value = t.status;
    acts.appendChild(st);
    action(T.setStatus, function () { act("status", { status: st.value }); });
    var ty = el("select"); ty.setAttribute("aria-label", T.meta.type);
    TYPES.forEach(function (v) { ty.appendChild(new Option(v, v)); }); ty.value = t.type;
    var pr = el("select"); pr.setAttribute("aria-label", T.meta.priority);
    PRIORITIES.forEach(function (v) { pr.appendChild(new Option(v, v)); }); pr.value = t.priority;
    acts.appendChild(ty); acts.appendChild(pr);
    action(T.classify, function () { act("classify", { type: ty.value, priority: pr.value }); });

    var off = $("d-offered");
    off.textContent = "";
    (t.offered || []).forEach(function (o) {
      off.appendChild(el("li", "", o.title + " · " + Math.round(o.confidence * 100) + "%" + (o.feedback ? " · " + o.feedback : "")));
    });
    if (!t.offered || !t.offered.length) off.appendChild(el("li", "", T.noneOffered));

    var ol = $("d-transcript");
    ol.textContent = "";
    (t.transcript || []).forEach(function (e) {
      var li = el("li", e.note ? "note" : e.author);
      var who = (e.name || T.authors[e.author] || e.author);
      var state = "";
      if (e.author === "agent" && !e.note) {
        // What became of a message to the customer: still in the outbox
        // (queued, or given up on with the reason), else delivered.
        var d = r.deliveries.filter(function (d) { return d.text.indexOf(e.text) >= 0; })[0];
        state = " · " + (d ? T[d.state] + (d.error ? " (" + d.error + ")" : "") : T.delivered);
      }
      li.appendChild(el("span", "meta", (e.note ? T.noteMark + " · " : "") + who + " · " + when(e.time) + state));
      li.appendChild(document.createTextNode(e.text));
      (e.attachments || []).forEach(function (a) { li.appendChild(el("span", "meta", "📎 " + a.kind + (a.name ? " " + a.name : ""))); });
      ol.appendChild(li);
    });

    var ev = $("d-events");
    ev.textContent = "";
    (t.events || []).forEach(function (e) {
      ev.appendChild(el("li", "", when(e.time) + " · " + e.actor + " · " + e.what + (e.detail ? ": " + e.detail : "") + (e.via ? " (" + e.via + ")" : "")));
    });

    var dv = $("d-deliveries");
    dv.textContent = "";
    r.deliveries.forEach(function (d) {
      dv.appendChild(el("li", "", T[d.state] + (d.attempts ? " · " + d.attempts + " " + T.attempts : "") + (d.error ? " · " + d.error : "") + " · " + d.text.slice(0, 120)));
    });
    if (!r.deliveries.length) dv.appendChild(el("li", "", T.allDelivered));
  }

  function act(action, body) {
    $("compose-error").textContent = "";
    return api("POST", "/inbox/api/tickets/" + current + "/" + action, body).then(function () {
      return open(current).then(loadQueue);
    }, function (e) {
      if (e.status === 401) return signedOut();
      $("compose-error").textContent = T.error + e.message;
    });
  }

  // Reply and note are two modes with their own colours, labels and
  // buttons: a note is never sent by mistake.
  function setMode(m) {
    mode = m;
    $("mode-reply").setAttribute("aria-selected", String(m === "reply"));
    $("mode-note").setAttribute("aria-selected", String(m === "note"));
    $("compose").className = m;
    $("compose-label").textContent = m === "reply" ? T.replyLabel : T.noteLabel;
    $("compose-send").textContent = m === "reply" ? T.sendReply : T.sendNote;
  }

  var source = null;
  function live() {
    if (source) return;
    source = new EventSource("/inbox/api/events");
    source.onmessage = function (e) {
      var id = Number(e.data);
      if (id === 0) return;
      loadQueue();
      if (current && (id === -1 || id === current)) open(current);
    };
    source.onerror = function () {
      // The browser reconnects by itself; a signed-out session does not.
      api("GET", "/inbox/api/me").catch(function (err) { if (err.status === 401) { source.close(); source = null; signedOut(); } });
    };
  }

  $("signin").addEventListener("submit", function (e) {
    e.preventDefault();
    $("signin-error").textContent = "";
    api("POST", "/inbox/api/login", { token: $("token").value }).then(function (me) {
      $("token").value = "";
      signedIn(me);
    }, function (err) { $("signin-error").textContent = err.message; });
  });
  $("logout").addEventListener("click", function () {
    api("POST", "/inbox/api/logout").then(function () {
      if (source) { source.close(); source = null; }
      signedOut();
    });
  });
  $("lang").addEventListener("change", function () {
    lang = $("lang").value;
    T = S[lang];
    localStorage.setItem("ayuda-inbox-lang", lang);
    texts();
    loadQueue();
    if (current) open(current);
  });
  ["view", "f-priority", "f-type", "f-channel", "f-team"].forEach(function (id) { $(id).addEventListener("change", loadQueue); });
  $("back").addEventListener("click", function () { $("app").classList.remove("open"); $("detail").hidden = true; current = 0; });
  $("mode-reply").addEventListener("click", function () { setMode("reply"); });
  $("mode-note").addEventListener("click", function () { setMode("note"); });
  $("compose").addEventListener("submit", function (e) {
    e.preventDefault();
    var v = $("compose-text").value;
    if (!v.trim()) return;
    act(mode, { text: v }).then(function () { if (!$("compose-error").textContent) $("compose-text").value = ""; });
  });
  document.addEventListener("keydown", function (e) {
    var typing = /^(TEXTAREA|INPUT|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "Escape") { $("back").click(); var f = document.querySelector("#tickets li"); if (f) f.focus(); }
    if (typing || !current) return;
    if (e.key === "r") { e.preventDefault(); setMode("reply"); $("compose-text").focus(); }
    if (e.key === "n") { e.preventDefault(); setMode("note"); $("compose-text").focus(); }
  });

  texts();
  api("GET", "/inbox/api/me").then(signedIn, signedOut);
})();
