// Busy: the control that started a request is disabled and shows it until the answer came,
// so a double click sends once. Links (boosted navigation) show it too. Page-wide: any control
// may start a request.
(function () {
  "use strict";
  document.addEventListener("htmx:before:request", function (event) {
    var ctx = event.detail.ctx;
    var source = ctx.sourceElement;
    if (!source || source === document.body) return;
    var controls = source.tagName === "FORM"
      ? Array.prototype.slice.call(source.querySelectorAll("button[type=submit], button:not([type])"))
      : (source.matches("button, a, summary") ? [source] : []);
    ctx.rosterBusy = controls;
    ctx.rosterDisabled = controls.filter(function (c) { return c.tagName === "BUTTON" && !c.disabled; });
    controls.forEach(function (c) { c.setAttribute("aria-busy", "true"); c.classList.add("is-busy"); });
    ctx.rosterDisabled.forEach(function (c) { c.disabled = true; });
  });
  document.addEventListener("htmx:finally:request", function (event) {
    var ctx = event.detail.ctx;
    (ctx.rosterBusy || []).forEach(function (c) { c.removeAttribute("aria-busy"); c.classList.remove("is-busy"); });
    (ctx.rosterDisabled || []).forEach(function (c) { c.disabled = false; });
  });
})();
