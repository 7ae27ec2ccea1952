// Focus after a swap never falls to <body>: the same control again (Resend), else the next one
// in its row, else the row now in its place (after Remove or Cancel), else the section's
// heading. A form that came back with its errors puts focus on its first problem: a field in
// error, the form's summary, or the first control of a group in error (the permissions).
// Page-wide: any request may swap what had focus away. Runs after dialogs.js (which may have
// put focus on a dialog's opener: then focus is not lost, and nothing moves it) and before
// form-errors.js (a refused form answered out of band: its first field in error wins).
(function (R) {
  "use strict";
  // Each request carries its own plan (live refreshes of several regions run at once, and one
  // that does not hold focus must not drop another's plan); a dialog that closes after its
  // form's swap falls back to the last plan a person's own action made.
  var lastPlan = null;
  function planFor(source) {
    var row = source.closest("tr");
    var table = row && row.closest("table");
    return {
      id: source.id || (source.closest("[id]") || {}).id,
      rowId: row && row.id,
      tableClass: table && table.className,
      rowIndex: row ? Array.prototype.indexOf.call(row.parentNode.children, row) : -1,
      section: (source.closest("section[id]") || {}).id,
    };
  }
  // A person's own request plans from its source; a live refresh (a region is its source) only
  // from the control with focus in the region as it is replaced.
  function plan(event) {
    var ctx = event.detail.ctx, source = ctx.sourceElement, active = document.activeElement;
    if (!source || source === document.body) return;
    var live = source.hasAttribute("data-live-src");
    if (event.type === "htmx:before:request" && !live) ctx.focusPlan = lastPlan = planFor(source);
    if (event.type === "htmx:before:swap" && live && source.contains(active)) ctx.focusPlan = planFor(active);
  }
  document.addEventListener("htmx:before:request", plan);
  document.addEventListener("htmx:before:swap", plan);

  R.restoreFocus = function (swapped, plan) {
    if (plan === undefined) plan = lastPlan;
    var active = document.activeElement;
    var lost = !active || active === document.body || !active.isConnected;
    var problem = swapped && swapped.tagName === "FORM" &&
      swapped.querySelector("[aria-invalid=true], .form-errors:not([hidden]), .error:not([hidden])");
    if (problem && (lost || swapped.contains(active))) {
      var group = problem.matches(".error") && problem.closest("fieldset, .field");
      var control = group ? R.firstFocusable(group) : problem;
      if (control && !control.matches(R.FOCUSABLE)) control.setAttribute("tabindex", "-1");
      if (R.focusOn(control)) return;
    }
    if (!lost || !plan) return;
    var same = plan.id && document.getElementById(plan.id);
    if (same && R.focusOn(same.matches(R.FOCUSABLE) ? same : R.firstFocusable(same))) return;
    var row = plan.rowId && document.getElementById(plan.rowId);
    if (R.focusOn(R.firstFocusable(row))) return;
    if (plan.tableClass && plan.rowIndex >= 0) {
      var table = document.querySelector("table[class='" + plan.tableClass + "']");
      var rows = table ? table.tBodies[0].rows : [];
      if (R.focusOn(R.firstFocusable(rows[Math.min(plan.rowIndex, rows.length - 1)]))) return;
    }
    var section = plan.section && document.getElementById(plan.section);
    var heading = section && section.querySelector("h2, h1");
    if (heading) R.focusHere(heading);
    else R.focusMain();
  };

  document.addEventListener("htmx:after:swap", function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (!ctx || ctx.target === document.body) return;  // a new page: the browser's own focus
    // What the swap put in place: ctx.target, or what replaced it (outerHTML), or the element
    // that HX-Retarget names (a selector).
    var swapped = ctx.target;
    if (typeof swapped === "string") swapped = document.querySelector(swapped);
    else if (swapped && !swapped.isConnected && swapped.id) swapped = document.getElementById(swapped.id) || swapped;
    var form = swapped && swapped.closest && swapped.closest("form");
    R.restoreFocus(form || swapped, ctx.focusPlan || null);
  });
})(Roster);
