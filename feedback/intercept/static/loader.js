/* Feedback web intercept loader.
   <script src="https://FEEDBACK-HOST/intercept.js" data-site="KEY" async></script>
   Fetches the site's rules, evaluates them here, and loads the overlay only when one fires.
   No framework, no third-party requests, no cookies. */
(function (w, d) {
  var me = d.currentScript || d.querySelector("script[data-site]");
  if (!me || w.__fbi) return;
  w.__fbi = 1;
  var L = "localStorage", S = "sessionStorage", P = "fbi:", DAY = 864e5,
    site = me.getAttribute("data-site"),
    base = me.src.replace(/\/intercept\.js([?#].*)?$/, ""),
    ds = me.dataset, queue = w.feedbackIntercept, started, cfg, busy, t0, maxY, views, timers = [],
    who = ds.contactId ? { id: ds.contactId, hash: ds.contactHash, email: ds.contactEmail, locale: ds.locale } : {},
    visitor = get(L, "v"), lastUrl;

  function get(s, k) { try { return JSON.parse(w[s].getItem(P + k)); } catch (e) {} }
  function set(s, k, v) { try { w[s].setItem(P + k, JSON.stringify(v)); } catch (e) {} }
  // Tells the page what happens: feedbackintercept:ready, :open and :close events on document.
  function emit(n, x) { try { d.dispatchEvent(new CustomEvent("feedbackintercept:" + n, { detail: x })); } catch (e) {} }
  function warn(m) { w.console && console.warn("feedback intercept: " + m); }
  function enc(v) { return encodeURIComponent(v); }
  function href() { return location.href.split("#")[0]; }
  function now() { return Date.now(); }
  if (!visitor) set(L, "v", visitor = Math.random().toString(36).slice(2) + now().toString(36));

  // Where a visitor falls in [0, 1) for a survey's sample: FNV-1a, the same as the server.
  function bucket(s) {
    for (var h = 0x811c9dc5, i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
    return h / 4294967296;
  }
  function scrolled() {
    var e = d.documentElement, h = Math.max(e.scrollHeight, d.body ? d.body.scrollHeight : 0);
    return h <= w.innerHeight ? 100 : Math.min(100, (w.pageYOffset + w.innerHeight) / h * 100);
  }
  // URL matches: ["e"|"c"|"r", text]; an exact match starting with "/" is a path.
  function hit(list) {
    for (var i = 0, u = href(), p = location.pathname, m, v; i < list.length; i++) {
      m = list[i][0]; v = list[i][1];
      if (m == "c" ? u.indexOf(v) > -1
        : m == "e" ? (v.charAt(0) == "/" ? (v.indexOf("?") > -1 ? p + location.search : p) == v : u == v)
        : re(v, u)) return 1;
    }
  }
  function re(v, u) { try { return new RegExp(v).test(u); } catch (e) {} }

  function check(exit) {
    if (!cfg || busy || !d.body) return;
    var secs = (now() - t0) / 1e3, key = cfg.identified && who.id ? "c:" + who.id : visitor, i, j, s, r, last;
    maxY = Math.max(maxY, scrolled());
    for (i = 0; i < cfg.surveys.length; i++) {
      s = cfg.surveys[i]; last = get(L, "s:" + s.id);
      if (get(S, "seen:" + s.id) || (last && now() - last < s.wait * DAY) || !(bucket(key + ":" + s.id) < s.sample)) continue;
      for (j = 0; j < s.rules.length; j++) {
        r = s.rules[j];
        if ((r.u && !hit(r.u)) || (r.x && hit(r.x)) || views < (r.p || 0) || secs < (r.s || 0)
          || maxY < (r.y || 0) || (r.e && !exit)) continue;
        return fire(s);
      }
    }
  }

  function post(path, body, cb) {
    fetch(base + path, { method: "POST", body: JSON.stringify(body), keepalive: true })
      .then(function (r) { return r.json(); }).then(cb, function () { cb(); });
  }

  function fire(s) {
    busy = 1;
    set(S, "seen:" + s.id, 1); // asked at most once per visit, whatever happens next
    post("/intercept/v1/open", {
      site: site, survey: s.id, visitor: visitor, page_url: href(),
      locale: who.locale || d.documentElement.lang || navigator.language,
      contact: who.id ? who : null
    }, function (o) {
      if (!o || !o.open) { if (o && o.error) warn(o.message); busy = 0; return check(); }
      if (o.identity_problem) warn(o.identity_problem);
      function show() {
        emit("open", { survey: s.id });
        w.__fbiOverlay(base, o, function (status) { // answered or dismissed: remembered here and on the server
          set(L, "s:" + s.id, now());
          var path = "/intercept/v1/displays/" + o.display, body = { status: status, visitor: visitor };
          navigator.sendBeacon ? navigator.sendBeacon(base + path, JSON.stringify(body)) : post(path, body, function () {});
        }, function (status) { busy = 2; emit("close", { survey: s.id, status: status }); }); // one survey per page view
      }
      if (w.__fbiOverlay) return show();
      var sc = d.createElement("script");
      sc.src = base + "/intercept/overlay.js";
      sc.onload = show;
      sc.onerror = function () { busy = 0; };
      d.head.appendChild(sc);
    });
  }

  function pageview() {
    if (busy == 2) busy = 0;
    views = (get(S, "n") || 0) + 1;
    set(S, "n", views);
    lastUrl = href(); t0 = now(); maxY = 0;
    schedule();
  }
  // One timer per dwell rule, instead of polling.
  function schedule() {
    while (timers.length) clearTimeout(timers.pop());
    if (!cfg) return;
    cfg.surveys.forEach(function (s) {
      s.rules.forEach(function (r) {
        if (r.s) timers.push(setTimeout(check, Math.max(0, r.s * 1e3 - (now() - t0)) + 20));
      });
    });
    check();
  }
  function nav() { if (href() != lastUrl) pageview(); }

  function load() {
    var q = "?site=" + enc(site) + "&visitor=" + enc(visitor);
    if (who.id) q += "&contact=" + enc(who.id) + (who.hash ? "&hash=" + enc(who.hash) : "");
    fetch(base + "/intercept/v1/config" + q).then(function (r) {
      return r.json().then(function (c) {
        if (!r.ok) return warn(c.message || r.status);
        if (c.identity_problem) warn(c.identity_problem);
        cfg = c;
        emit("ready", { surveys: c.surveys.map(function (s) { return s.id; }) });
        schedule();
      });
    })["catch"](function () { warn("the rules could not be loaded"); });
  }

  function start() {
    started = 1;
    pageview();
    load();
    w.addEventListener("scroll", function () { if (cfg) check(); }, { passive: true });
    // Exit intent: the pointer leaves through the top of the window (desktop pointers only).
    if (w.matchMedia && matchMedia("(hover: hover) and (pointer: fine)").matches)
      d.addEventListener("mouseout", function (e) { if (!e.relatedTarget && e.clientY <= 0) check(1); });
    // Pages viewed in single-page apps.
    var push = history.pushState;
    history.pushState = function () { var r = push.apply(this, arguments); nav(); return r; };
    w.addEventListener("popstate", nav);
  }

  var api = {
    // feedbackIntercept.identify({id, hash, email, locale, ...attributes})
    identify: function (o) {
      if (!o || o.id == null) return;
      who = {};
      for (var k in o) who[k] = o[k];
      who.id = "" + o.id;
      if (started) load();
    },
    reset: function () { who = {}; if (started) load(); },
    // Open a survey from code (e.g. a "Give feedback" button); the server still decides.
    open: function (id) {
      for (var i = 0; cfg && i < cfg.surveys.length; i++) if (cfg.surveys[i].id == id && !busy) fire(cfg.surveys[i]);
    },
    push: function (c) { api[c[0]] && api[c[0]].apply(api, [].slice.call(c, 1)); }
  };
  // Calls queued before the loader arrived: (window.feedbackIntercept = window.feedbackIntercept || []).push(["identify", {...}])
  if (queue && queue.length) [].forEach.call(queue, api.push);
  w.feedbackIntercept = api;
  d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", start) : start();
})(window, document);
