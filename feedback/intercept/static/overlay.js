/* Feedback web intercept overlay: loaded by intercept.js only when a rule fires.
   An accessible modal dialog (focus kept inside, Escape and a close button, the page behind
   made inert) holding the web survey in embed mode; a bottom sheet on phones. Its styles
   live in a shadow root, so the site's CSS and ours never meet. */
(function (w, d) {
  var CSS =
    ":host{all:initial}" +
    ".bd{position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483646}" +
    ".dlg{position:fixed;z-index:2147483647;left:50%;top:50%;transform:translate(-50%,-50%);" +
    "width:min(560px,calc(100vw - 32px));max-height:min(680px,calc(100vh - 32px));display:flex;flex-direction:column;" +
    "background:#fff;color:#1a1a1a;border-radius:12px;box-shadow:0 12px 40px rgba(0,0,0,.3);overflow:hidden;" +
    "font:16px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC','Microsoft YaHei',sans-serif}" +
    ".bottom-right,.bottom-left{top:auto;bottom:16px;transform:none;width:min(420px,calc(100vw - 32px))}" +
    ".bottom-right{left:auto;right:16px}.bottom-left{left:16px}" +
    ".hd{display:flex;align-items:center;gap:8px;padding:4px 4px 4px 16px;border-bottom:1px solid #e3e3e3}" +
    "h2{flex:1;margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}" +
    ".x{min-width:44px;min-height:44px;border:0;border-radius:8px;background:none;color:inherit;font-size:28px;line-height:1;cursor:pointer}" +
    ".x:hover{background:#f0f0f0}.x:focus-visible{outline:3px solid #1a5fd0;outline-offset:-3px}" +
    ".ld{padding:16px;color:#555}iframe{flex:1 1 auto;min-height:0;height:420px;width:100%;border:0;background:#fff}" +
    "@media (max-width:600px){.dlg{left:0;right:0;top:auto;bottom:0;transform:none;width:100%;" +
    "max-height:85vh;border-radius:16px 16px 0 0}}";

  // o: {url, display, title, close, loading, lang, place}; onStatus("answered"|"dismissed"); onClosed()
  w.__fbiOverlay = function (base, o, onStatus, onClosed) {
    var host = d.createElement("div"), root = host.attachShadow({ mode: "open" }),
      origin = (base.match(/^https?:\/\/[^/]+/) || [location.origin])[0],
      prev = d.activeElement, html = d.documentElement, overflow = html.style.overflow,
      inerted = [], answered, closed, timer;
    host.setAttribute("data-feedback-intercept", o.display);
    root.innerHTML = "<style>" + CSS + "</style><div class=bd></div><span tabindex=0></span>" +
      "<div class=dlg role=dialog aria-modal=true aria-labelledby=t><div class=hd><h2 id=t></h2>" +
      "<button type=button class=x><span aria-hidden=true>\u00d7</span></button></div>" +
      "<div class=ld role=status></div><iframe></iframe></div><span tabindex=0></span>";
    function q(s) { return root.querySelector(s); }
    var dlg = q(".dlg"), x = q(".x"), frame = q("iframe"), ld = q(".ld"), ends = root.querySelectorAll("span[tabindex]");
    if (o.place && o.place != "center") dlg.classList.add(o.place);
    dlg.lang = o.lang || "";
    q("h2").textContent = o.title || "";
    x.setAttribute("aria-label", o.close);
    x.title = o.close;
    ld.textContent = o.loading;
    frame.title = o.title || "";
    frame.onload = function () {
      ld.remove();
      if (!closed && d.activeElement != host) x.focus(); // a frame that loads while focused drops the focus
    };
    frame.src = base + o.url;

    function close() {
      if (closed) return;
      closed = 1;
      clearTimeout(timer);
      if (!answered) onStatus("dismissed");
      d.removeEventListener("keydown", key, true);
      w.removeEventListener("message", message);
      inerted.forEach(function (el) { el.inert = false; });
      html.style.overflow = overflow;
      host.remove();
      if (prev && prev.focus && d.contains(prev)) prev.focus();
      onClosed(answered ? "answered" : "dismissed");
    }
    function key(e) { if (e.key == "Escape") { e.preventDefault(); close(); } }
    function message(e) {
      var m = e.data;
      if (e.origin != origin || e.source != frame.contentWindow || !m || typeof m != "object") return;
      if (m.height > 0) frame.style.height = Math.ceil(m.height) + "px"; // fits the survey page
      if (m.type == "feedback:complete" && m.status == "complete" && !answered) {
        answered = 1;
        onStatus("answered");
        timer = setTimeout(close, 4000); // time to read the thank-you
      } else if (m.type == "feedback:close" || m.type == "feedback:escape") close();
    }
    x.onclick = close;
    q(".bd").onclick = close;
    // Focus stays in the dialog: the guards on each side send it back in.
    ends[0].onfocus = function () { frame.focus(); };
    ends[1].onfocus = function () { x.focus(); };
    d.addEventListener("keydown", key, true);
    w.addEventListener("message", message);
    [].forEach.call(d.body.children, function (el) {
      if (!el.inert && el.tagName != "SCRIPT") { el.inert = true; inerted.push(el); }
    });
    html.style.overflow = "hidden";
    d.body.appendChild(host);
    x.focus();
  };
})(window, document);
