/* Feedback chat widget. Plain JavaScript, no framework, no CDN.
 * <script src="https://feedback.example.com/chat/widget.js" data-survey="support-ticket"
 *         data-locale="zh-CN" data-context='{"event":{"ticket_id":"T-1"}}' async></script>
 * Optional: data-contact (JSON), data-open="true", data-position="left".
 * Styles live in a shadow root, so the page and the widget never restyle each other.
 * API: window.FeedbackChat.open() / .close(). */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-survey][src*='widget.js']");
  if (!script || window.FeedbackChat) return;
  var d = script.dataset;
  var survey = d.survey;
  if (!survey) { console.error("feedback chat: data-survey is missing"); return; }
  var base = new URL(script.src, location.href).href.replace(/\/chat\/widget\.js(\?.*)?$/, "");
  var locale = d.locale || document.documentElement.lang || navigator.language || "";
  var key = "feedback-chat:" + survey;
  var T = {open: "Give feedback", close: "Close", send: "Send", send_selected: "Send selected",
    placeholder: "Type your answer…", typing: "Typing…", log: "Conversation", replies: "Quick replies",
    you: "You", error: "Sorry, your message could not be sent. Please try again.",
    ended: "This conversation has ended.", restart: "Start again"};
  var title = "";
  var st = load() || {log: []};
  var busy = false, replies = [], question = null, chosen = [];

  function json(text, fallback) { try { return text ? JSON.parse(text) : fallback; } catch (e) { return fallback; } }
  function load() { try { return JSON.parse(sessionStorage.getItem(key)); } catch (e) { return null; } }
  function save() { try { sessionStorage.setItem(key, JSON.stringify(st)); } catch (e) { /* private mode */ } }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }
  function api(method, path, body) {
    var h = {"Content-Type": "application/json"};
    if (st.token) h.Authorization = "Bearer " + st.token;
    return fetch(base + "/chat/api" + path, {method: method, headers: h, body: body ? JSON.stringify(body) : undefined})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) { var e = new Error(data.message || r.status); e.status = r.status; throw e; }
          return data;
        });
      });
  }

  var host = el("div");
  host.setAttribute("data-feedback-chat", survey);
  var root = host.attachShadow({mode: "open"});
  root.innerHTML = "<style>:host{all:initial}.fbc{display:none}</style>";
  var css = el("link");
  css.rel = "stylesheet";
  css.href = base + "/chat/widget.css";
  root.appendChild(css);
  var box = el("div", "fbc" + (d.position === "left" ? " fbc-left" : ""));
  var launcher = el("button", "fbc-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "fbc-panel");
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true" width="22" height="22"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var launchText = el("span", "", T.open);
  launcher.appendChild(launchText);
  var panel = el("section", "fbc-panel");
  panel.id = "fbc-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-labelledby", "fbc-title");
  var head = el("header", "fbc-head");
  var h2 = el("h2", "", "");
  h2.id = "fbc-title";
  var closeBtn = el("button", "fbc-close", "×");
  closeBtn.type = "button";
  head.appendChild(h2);
  head.appendChild(closeBtn);
  var log = el("div", "fbc-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.tabIndex = 0;
  var typing = el("div", "fbc-typing");
  typing.setAttribute("role", "status");
  var dots = el("span", "fbc-dots");
  dots.innerHTML = "<i></i><i></i><i></i>";
  dots.setAttribute("aria-hidden", "true");
  var typingText = el("span", "fbc-sr", "");
  typing.appendChild(dots);
  typing.appendChild(typingText);
  typing.hidden = true;
  var chips = el("div", "fbc-replies");
  chips.setAttribute("role", "group");
  var form = el("form", "fbc-form");
  var label = el("label", "fbc-sr");
  label.htmlFor = "fbc-input";
  var input = el("input");
  input.id = "fbc-input";
  input.autocomplete = "off";
  input.maxLength = 2000;
  var sendBtn = el("button", "fbc-send");
  sendBtn.type = "submit";
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(sendBtn);
  [head, log, typing, chips, form].forEach(function (n) { panel.appendChild(n); });
  box.appendChild(panel);
  box.appendChild(launcher);
  root.appendChild(box);

  function strings() {
    launchText.textContent = T.open;
    closeBtn.setAttribute("aria-label", T.close);
    log.setAttribute("aria-label", T.log);
    chips.setAttribute("aria-label", T.replies);
    label.textContent = T.placeholder;
    input.placeholder = T.placeholder;
    sendBtn.textContent = T.send;
    h2.textContent = title || T.open;
  }
  strings();

  function bubble(who, text, cls) {
    var m = el("div", "fbc-msg fbc-" + who + (cls ? " " + cls : ""));
    if (who === "user") m.appendChild(el("span", "fbc-sr", T.you + ": "));
    m.appendChild(document.createTextNode(text));
    log.appendChild(m);
    log.scrollTop = log.scrollHeight;
  }
  function note(text, who) { st.log.push({who: who, text: text}); save(); bubble(who, text); }

  function setBusy(on) {
    busy = on;
    typing.hidden = !on;
    typingText.textContent = on ? T.typing : "";
    sendBtn.disabled = on || st.status !== "active";
    if (on) log.scrollTop = log.scrollHeight;
  }

  function renderChips() {
    chips.textContent = "";
    chosen = [];
    var multi = question && question.multiple;
    replies.forEach(function (r) {
      var b = el("button", "fbc-chip", r.label);
      b.type = "button";
      if (multi && r.value !== "skip") {
        b.setAttribute("aria-pressed", "false");
        b.onclick = function () {
          var i = chosen.indexOf(r);
          if (i < 0) chosen.push(r); else chosen.splice(i, 1);
          b.setAttribute("aria-pressed", i < 0 ? "true" : "false");
          go.disabled = !chosen.length;
        };
      } else {
        b.onclick = function () { send({value: r.value}, r.label); };
      }
      chips.appendChild(b);
    });
    if (multi && replies.length) {
      var go = el("button", "fbc-chip fbc-go", T.send_selected);
      go.type = "button";
      go.disabled = true;
      go.onclick = function () {
        send({value: chosen.map(function (r) { return r.value; })},
          chosen.map(function (r) { return r.label; }).join(", "));
      };
      chips.appendChild(go);
    }
  }

  function ended() {
    input.disabled = sendBtn.disabled = true;
    input.placeholder = T.ended;
    replies = [];
    renderChips();
    if (st.status !== "complete") {
      var again = el("button", "fbc-chip", T.restart);
      again.type = "button";
      again.onclick = function () { st = {log: []}; save(); log.textContent = ""; start(); };
      chips.appendChild(again);
    }
  }

  function take(data) {
    st.step = data.step;
    st.status = data.status;
    (data.messages || []).forEach(function (m) {
      note(m.text, "bot");
      if (m.kind === "question") { replies = m.quick_replies || []; question = m.question || null; }
      if (m.kind === "confirm") { replies = m.quick_replies || []; question = null; }
    });
    save();
    if (data.status !== "active") return ended();
    input.disabled = false;
    input.placeholder = T.placeholder;
    renderChips();
  }

  function focusNext(wasChip) {
    if (panel.hidden) return;
    var first = chips.querySelector("button");
    if (wasChip && first) first.focus();
    else if (!input.disabled) input.focus();
    else if (first) first.focus();
    else closeBtn.focus();
  }

  function fail(e, payload) {
    if (e.status === 409) { st.status = "ended"; save(); bubble("bot", T.ended, "fbc-note"); return ended(); }
    if (e.status === 403 || e.status === 404) { st = {log: []}; save(); }
    bubble("bot", T.error, "fbc-note fbc-error");
    if (payload && payload.text != null) input.value = payload.text;
    if (st.id) return renderChips();
    replies = [];
    ended();
  }

  function send(payload, shown) {
    if (busy || st.status !== "active") return;
    var wasChip = root.activeElement && root.activeElement.classList.contains("fbc-chip");
    note(shown, "user");
    chips.textContent = "";
    payload.step = st.step;
    setBusy(true);
    api("POST", "/sessions/" + encodeURIComponent(st.id) + "/messages", payload)
      .then(take, function (e) { fail(e, payload); })
      .then(function () { setBusy(false); focusNext(wasChip); });
  }

  function start() {
    setBusy(true);
    var body = {survey: survey, locale: locale, page_url: location.href,
      contact: json(d.contact, undefined), context: json(d.context, undefined)};
    return api("POST", "/sessions", body).then(function (data) {
      st = {id: data.session_id, token: data.token, log: []};
      if (data.bot_name || data.title) { title = data.bot_name || data.title; h2.textContent = title; }
      take(data);
    }, function (e) { fail(e, null); }).then(function () { setBusy(false); focusNext(true); });
  }

  function resume() {
    st.log.forEach(function (m) { bubble(m.who, m.text); });
    setBusy(true);
    return api("GET", "/sessions/" + encodeURIComponent(st.id)).then(function (data) {
      st.step = data.step;
      st.status = data.status;
      if (data.status !== "active") return ended();
      (data.messages || []).forEach(function (m) {
        if (m.kind === "question") { replies = m.quick_replies || []; question = m.question || null; }
      });
      input.disabled = false;
      renderChips();
    }, function () { st = {log: []}; save(); log.textContent = ""; return start(); })
      .then(function () { setBusy(false); focusNext(true); });
  }

  function open() {
    if (!panel.hidden) return;
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    box.classList.add("fbc-open");
    if (!st.id) start();
    else if (!log.childNodes.length) resume();
    else focusNext(true);
  }
  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    box.classList.remove("fbc-open");
    launcher.focus();
  }

  launcher.onclick = function () { if (panel.hidden) open(); else close(); };
  closeBtn.onclick = close;
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.stopPropagation(); close(); }
  });
  form.onsubmit = function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send({text: text}, text);
  };

  fetch(base + "/chat/api/config?survey=" + encodeURIComponent(survey) + "&locale=" + encodeURIComponent(locale))
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (c) {
      if (!c) return;
      locale = c.locale;
      box.lang = c.locale;
      title = c.bot_name || c.title || "";
      for (var k in c.strings) T[k] = c.strings[k];
      strings();
    }, function () { /* offline: English defaults */ });

  function mount() {
    document.body.appendChild(host);
    if (d.open === "true") open();
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  window.FeedbackChat = {open: open, close: close};
})();
