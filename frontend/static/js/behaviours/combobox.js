// Select User as a WAI-ARIA combobox (input[data-combobox] + its listbox, filled by htmx):
// Arrow keys move through the options (aria-activedescendant), Enter or a click picks one into
// the hidden field named by data-combobox (and data-combobox-email), Esc closes the list and a
// second Esc clears the text; the number of results is announced by the list's status line.
(function (R) {
  "use strict";
  R.on("input[data-combobox]", function (input) {
    var form = input.form;
    var field = form && form.elements[input.dataset.combobox];
    var email = form && form.elements[input.dataset.comboboxEmail];
    var chosen = document.getElementById(input.dataset.comboboxChosen);
    function list() { return document.getElementById(input.getAttribute("aria-controls")); }
    function options() {
      return list() ? Array.prototype.slice.call(list().querySelectorAll("[role=option]")) : [];
    }
    function setActive(option) {
      options().forEach(function (o) { o.classList.toggle("is-active", o === option); o.setAttribute("aria-selected", o === option ? "true" : "false"); });
      if (option) {
        input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      } else input.removeAttribute("aria-activedescendant");
    }
    function setExpanded(open) {
      input.setAttribute("aria-expanded", open ? "true" : "false");
      if (list()) list().hidden = !open;
    }
    function pick(option) {
      if (!option || option.getAttribute("aria-disabled") === "true") return;
      if (field) field.value = option.dataset.value;
      if (email) email.value = option.dataset.email || "";
      if (chosen) {
        chosen.textContent = "Selected: " + option.dataset.label;
        chosen.hidden = false;
      }
      input.value = option.dataset.label;
      input.removeAttribute("aria-invalid");
      setActive(null);
      setExpanded(false);
    }
    function unpick() {
      if (field) field.value = "";
      if (email) email.value = "";
      if (chosen) { chosen.textContent = ""; chosen.hidden = true; }
    }
    input.addEventListener("keydown", function (event) {
      var all = options().filter(function (o) { return o.getAttribute("aria-disabled") !== "true"; });
      var current = document.getElementById(input.getAttribute("aria-activedescendant") || "");
      var index = all.indexOf(current);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!all.length) return;
        setExpanded(true);
        setActive(all[event.key === "ArrowDown" ? (index + 1) % all.length : (index <= 0 ? all.length - 1 : index - 1)]);
      } else if (event.key === "Enter") {
        event.preventDefault();  // never submits the dialog from the search box
        if (current) pick(current);
        else if (all.length === 1) pick(all[0]);
      } else if (event.key === "Escape") {
        if (input.getAttribute("aria-expanded") === "true") {
          event.preventDefault();
          setActive(null);
          setExpanded(false);
        } else if (input.value) {
          event.preventDefault();
          input.value = "";
          unpick();
        }
      }
    });
    input.addEventListener("input", unpick);  // a new search: the earlier choice no longer shows
    // The list was filled (htmx swaps it on this input's request).
    input.addEventListener("htmx:after:swap", function () {
      setActive(null);
      setExpanded(options().length > 0);
    });
    if (!form) return;
    form.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option && list() && list().contains(option)) { pick(option); input.focus(); }
    });
    // The form cleared (dialogs.js, after Associate User): no choice, no results. After the
    // reset itself, which gives the fields their first values back.
    form.addEventListener("reset", function () {
      setTimeout(function () {
        unpick();
        setExpanded(false);
        if (list()) list().parentNode.replaceChildren();
      });
    });
    // A native dialog closes on Esc before keydown default handling: keep it open while Esc
    // still has something to do here.
    var dialog = input.closest("dialog");
    if (dialog && !dialog.rosterCombobox) {
      dialog.rosterCombobox = true;
      dialog.addEventListener("cancel", function (event) {
        var active = document.activeElement;
        if (active && active.matches("input[data-combobox]") && dialog.contains(active) &&
            (active.getAttribute("aria-expanded") === "true" || active.value)) event.preventDefault();
      });
    }
  });
})(Roster);
