// A refused form answered out of band (app/http/plumbing/form_errors.py: 4xx with HX-Reswap:
// none, so the inputs keep what was typed): each error slot [data-error-for=ID] of the form
// marks its input (aria-invalid, and the slot in aria-describedby) or unmarks it when empty,
// and focus goes to the input the summary names in data-first-error (read once, then removed).
// After the swap, when every slot has landed; registered after focus.js, so this focus wins.
(function () {
  "use strict";
  document.addEventListener("htmx:after:swap", function () {
    var summary = document.querySelector("[data-first-error]");
    if (!summary) return;
    var first = document.getElementById(summary.getAttribute("data-first-error"));
    summary.removeAttribute("data-first-error");
    (summary.closest("form") || document).querySelectorAll("[data-error-for]").forEach(function (slot) {
      var input = document.getElementById(slot.dataset.errorFor);
      if (!input) return;
      if (slot.textContent.trim()) {
        input.setAttribute("aria-invalid", "true");
        var described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
        if (described.indexOf(slot.id) < 0) input.setAttribute("aria-describedby", described.concat(slot.id).join(" "));
      } else {
        input.removeAttribute("aria-invalid");
      }
    });
    if (first) first.focus();
  });
})();
