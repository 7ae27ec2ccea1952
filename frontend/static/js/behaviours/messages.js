// The live region (#flash[data-messages]): every message of the page, success or failure, in
// view (fixed at the bottom) and announced. Confirmations fade after 8 s unless hovered or
// focused; errors stay until dismissed. A message may offer Retry (the failed request again) or
// Undo. At most MAX_SHOWN at once (the oldest goes), and the page gets room below its content
// as tall as the messages, so they never hide its last rows.
(function (R) {
  "use strict";
  var MAX_SHOWN = 3;
  function region() { return document.getElementById("flash"); }

  // Says one message; the note, or null. `source`: the element whose request Retry repeats.
  R.say = function (message, source) {
    var box = region();
    if (!box || !message || !message.text) return null;
    var kind = ["success", "error", "info"].indexOf(message.kind) >= 0 ? message.kind : "info";
    var note = document.createElement("div");
    note.className = "flash flash-" + kind;
    note.setAttribute("role", kind === "error" ? "alert" : "status");
    note.tabIndex = -1;
    var text = document.createElement("span");
    text.className = "flash-text";
    text.textContent = message.text;
    note.appendChild(text);
    if (message.retry && source) note.appendChild(retryButton(source, note));
    if (message.undo && message.undo.url) note.appendChild(undoButton(message.undo, note));
    note.appendChild(closeButton(note));
    if (kind === "error") box.querySelectorAll(".flash-error").forEach(R.dismiss);
    box.appendChild(note);
    while (box.children.length > MAX_SHOWN) R.dismiss(box.firstElementChild);
    if (kind !== "error") fadeLater(note, message.undo ? 10000 : 8000);
    return note;
  };
  R.dismiss = function (note) {
    var focused = note.contains(document.activeElement);
    note.remove();
    if (focused) R.focusMain();
  };
  function closeButton(note) {
    var close = button("×", "flash-close");
    close.setAttribute("aria-label", R.t("dismiss"));
    close.addEventListener("click", function () { R.dismiss(note); });
    return close;
  }
  function button(text, className) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    return b;
  }
  function fadeLater(note, ms) {
    var timer = null;
    function arm() { timer = setTimeout(function () { note.classList.add("is-hidden"); setTimeout(function () { if (!note.matches(":hover, :focus-within")) note.remove(); else note.classList.remove("is-hidden"); }, 600); }, ms); }
    note.addEventListener("mouseenter", function () { clearTimeout(timer); });
    note.addEventListener("focusin", function () { clearTimeout(timer); });
    note.addEventListener("mouseleave", arm);
    note.addEventListener("focusout", function (event) { if (!note.contains(event.relatedTarget)) arm(); });
    arm();
  }
  function retryButton(source, note) {
    var retry = button(R.t("retry"), "btn btn-sm");
    retry.addEventListener("click", function () {
      note.remove();
      if (!source.isConnected) location.reload();
      else if (source.tagName === "FORM") source.requestSubmit();
      else if (source.tagName === "INPUT") source.dispatchEvent(new Event("input", { bubbles: true }));
      else source.click();
    });
    return retry;
  }
  function undoButton(undo, note) {
    var b = button(R.t("undo"), "btn btn-sm");
    b.setAttribute("hx-post", undo.url);
    b.setAttribute("hx-vals", JSON.stringify({ token: undo.token }));
    b.setAttribute("hx-target", "#account-users");
    b.setAttribute("hx-swap", "outerHTML");
    b.addEventListener("htmx:after:request", function () { note.remove(); });
    setTimeout(function () { if (window.htmx) window.htmx.process(b); });
    return b;
  }

  // Messages sent by the server with a fragment (HX-Trigger: roster:flash), fired on the
  // element that made the request (Retry repeats it). Page-wide: any element may be the source.
  document.addEventListener("roster:flash", function (event) {
    var detail = event.detail || {};
    var source = event.target instanceof Element ? event.target : null;
    (detail.messages || []).forEach(function (m) { R.say(m, source); });
  });

  // The messages rendered into a whole page fade like the others.
  R.on("[data-messages]", function (box) {
    var room = function () { document.documentElement.style.setProperty("--flash-room", box.offsetHeight + "px"); };
    new MutationObserver(room).observe(box, { childList: true });
    room();
    box.querySelectorAll(".flash").forEach(function (note) {
      note.appendChild(closeButton(note));
      if (!note.classList.contains("flash-error")) fadeLater(note, 8000);
    });
  });
})(Roster);
