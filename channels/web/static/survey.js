/* Progressive enhancement of the survey pages. Everything works without this script:
   it adds character counters, shows and hides conditional questions on pages that hold
   several questions (asking the server which ones apply), moves focus to an answer that
   needs attention, guards against double submission, and tells an embedding page (an
   iframe overlay) how tall the survey is and when it is finished. */
(function () {
  "use strict";

  var form = document.querySelector(".survey-form");

  // -- character counters ---------------------------------------------------------------
  function counterText(counter, left) {
    var template = counter.getAttribute("data-left") || "{n}";
    return template.replace("{n}", String(left));
  }
  Array.prototype.forEach.call(document.querySelectorAll("textarea[maxlength]"), function (ta) {
    var counter = document.getElementById(ta.id + "-count");
    if (!counter) return;
    var max = parseInt(ta.getAttribute("maxlength"), 10);
    var update = function () {
      var left = Math.max(0, max - ta.value.length);
      counter.textContent = counterText(counter, left);
      counter.classList.toggle("is-near", left <= Math.max(10, max * 0.05));
    };
    // Announce the count only while typing pauses, not on every key.
    counter.setAttribute("aria-live", "off");
    var timer = null;
    ta.addEventListener("input", function () {
      update();
      clearTimeout(timer);
      counter.setAttribute("aria-live", "off");
      timer = setTimeout(function () { counter.setAttribute("aria-live", "polite"); update(); }, 900);
    });
    update();
  });

  // -- conditional questions on multi-question pages ---------------------------------------
  function setShown(block, shown) {
    if (block.hidden === !shown) return;
    block.hidden = !shown;
    Array.prototype.forEach.call(block.querySelectorAll("input, textarea, select"), function (el) {
      el.disabled = !shown;
    });
  }

  if (form && form.getAttribute("data-layout") === "all_on_one" && window.fetch && window.FormData) {
    var url = form.getAttribute("data-visible-url");
    var pending = null;
    var seq = 0;
    var refresh = function () {
      var mine = ++seq;
      var data = new FormData(form);
      // Hidden questions post nothing; their answers must not count.
      fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
        if (!body || mine !== seq) return;
        var visible = {};
        body.visible.forEach(function (id) { visible[id] = true; });
        Array.prototype.forEach.call(form.querySelectorAll(".question[data-qid]"), function (block) {
          var id = block.getAttribute("data-qid");
          var wasHidden = block.hidden;
          setShown(block, !!visible[id]);
          if (wasHidden && !block.hidden) {
            block.classList.add("is-revealed");
          }
        });
        postHeight();
      }).catch(function () { /* the server re-asks on submit */ });
    };
    form.addEventListener("change", function () { refresh(); });
    form.addEventListener("input", function (ev) {
      if (ev.target && ev.target.tagName === "TEXTAREA") return;
      clearTimeout(pending);
      pending = setTimeout(refresh, 300);
    });
  }

  // -- focus an answer that needs attention -------------------------------------------------
  var firstError = document.querySelector(".question.has-error");
  if (firstError) {
    var target = firstError.querySelector("input:not([type=hidden]):checked, input:not([type=hidden]), textarea");
    if (target) {
      target.focus({ preventScroll: true });
      firstError.scrollIntoView({ block: "center" });
    }
  }

  // -- one submission at a time -----------------------------------------------------------
  if (form) {
    form.addEventListener("submit", function () {
      var btn = form.querySelector(".btn-primary");
      if (btn) setTimeout(function () { btn.disabled = true; }, 0);
      setTimeout(function () { if (btn) btn.disabled = false; }, 8000);
    });
  }

  // -- embedded in an iframe: tell the host page -------------------------------------------
  function postHeight() {
    if (window.parent === window) return;
    var end = document.querySelector(".end-state");
    try {
      window.parent.postMessage({
        source: "feedback-survey",
        type: end ? "feedback:complete" : "feedback:page",
        status: end ? end.getAttribute("data-status") : "active",
        height: document.documentElement.scrollHeight
      }, "*");
    } catch (e) { /* nothing to tell */ }
  }
  postHeight();
  window.addEventListener("resize", postHeight);
  // Escape inside the frame closes the host's overlay too (the host page never sees the key).
  if (window.parent !== window) {
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape") return;
      try { window.parent.postMessage({ source: "feedback-survey", type: "feedback:escape" }, "*"); } catch (e) { /* no host */ }
    });
  }
})();
