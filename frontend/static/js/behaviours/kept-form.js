// An ended session: the values of the form that was being sent wait in this tab's
// sessionStorage (never passwords or tokens) until that form is on screen again, after the
// person logged in and came back to the page.
(function (R) {
  "use strict";
  var KEPT = "roster:kept:";
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail.ctx;
    var next = ctx.hx && ctx.hx.location;
    var source = ctx.sourceElement;
    var form = source && (source.tagName === "FORM" ? source : source.closest("form"));
    if (!next || !/[?&]ended=1/.test(next) || !form || !form.id) return;
    var values = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || /^(password|hidden|submit|button)$/.test(el.type)) return;
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) values.push([el.name, el.value, true]); }
      else values.push([el.name, el.value]);
    });
    try { sessionStorage.setItem(KEPT + location.pathname, JSON.stringify({ form: form.id, values: values })); } catch (e) { /* storage off */ }
  });
  R.on("form[id]", function (form) {
    var kept;
    try { kept = JSON.parse(sessionStorage.getItem(KEPT + location.pathname) || "null"); } catch (e) { kept = null; }
    if (!kept || kept.form !== form.id) return;
    sessionStorage.removeItem(KEPT + location.pathname);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = kept.values.some(function (v) { return v[2] && v[0] === el.name && v[1] === el.value; });
      } else if (el.name && el.type !== "password" && el.type !== "hidden") {
        var found = kept.values.filter(function (v) { return v[0] === el.name && !v[2]; })[0];
        if (found) el.value = found[1];
      }
    });
    R.say({ kind: "info", text: R.t("keptForm") });
    var first = R.firstFocusable(form);
    if (first) first.focus();
  });
})(Roster);
