// Dialogs: [data-dialog-open=ID] opens <dialog id=ID data-dialog> modally, with focus inside;
// [data-dialog-close] closes its dialog; Esc closes (native); closing returns focus to the
// opener. [data-dialog-load=ID][hx-get] fills the dialog (its hx-target), which then opens.
// data-close-on=EVENT on a dialog: that event (HX-Trigger, fired inside it) clears its forms
// and closes it (roster:associated: Associate User succeeded).
(function (R) {
  "use strict";
  var opener = new WeakMap();
  function open(dialog, from) {
    if (from) opener.set(dialog, from);
    dialog.showModal();
    var first = dialog.querySelector("[autofocus]") || R.firstFocusable(dialog.querySelector(".dialog-body") || dialog);
    if (first) first.focus();
  }
  R.on("[data-dialog-open]", function (button) {
    button.addEventListener("click", function (event) {
      var dialog = document.getElementById(button.dataset.dialogOpen);
      if (dialog) { event.preventDefault(); open(dialog, button); }
    });
  });
  R.on("[data-dialog-close]", function (button) {
    button.addEventListener("click", function (event) {
      var dialog = button.closest("dialog");
      if (dialog) { event.preventDefault(); dialog.close(); }
    });
  });
  R.on("[data-dialog-load]", function (button) {
    button.addEventListener("htmx:after:swap", function () {
      var dialog = document.getElementById(button.dataset.dialogLoad);
      if (dialog && !dialog.open) open(dialog, button);
    });
  });
  R.on("dialog[data-dialog]", function (dialog) {
    dialog.addEventListener("close", function () {
      var back = opener.get(dialog);
      if (back && R.visible(back)) back.focus();
      else if (back) R.restoreFocus(null);
    });
    var done = dialog.getAttribute("data-close-on");
    if (done) dialog.addEventListener(done, function () {
      dialog.querySelectorAll("form").forEach(function (form) { form.reset(); });
      dialog.close();
    });
  });

  // Swaps and dialogs (page-wide: any swap may touch an open dialog). A swap inside an open
  // dialog (a form re-rendered with its errors) keeps the dialog open, even when the dialog
  // itself was replaced. A swap that replaced an open dialog from outside (the section around
  // it, after a save) lets it close, and puts focus back on the button that opens it.
  // Registered after failures.js (its refusal of a whole page comes first: defaultPrevented)
  // and before focus.js (a dialog is open again before focus is placed in it).
  var swapDialog = null;
  document.addEventListener("htmx:before:swap", function (event) {
    swapDialog = null;
    if (event.defaultPrevented) return;
    var dialog = document.querySelector("dialog[open]");
    if (!dialog || !dialog.id) return;
    var inside = (event.detail.tasks || []).some(function (task) {
      var target = typeof task.target === "string" ? document.querySelector(task.target) : task.target;
      return target && dialog.contains(target);
    });
    swapDialog = { id: dialog.id, inside: inside, node: dialog };
  });
  document.addEventListener("htmx:after:swap", function () {
    var before = swapDialog;
    swapDialog = null;
    if (!before) return;
    var dialog = document.getElementById(before.id);
    if (before.inside && dialog && !dialog.open) {
      if (before.node !== dialog && opener.has(before.node)) opener.set(dialog, opener.get(before.node));
      dialog.showModal();
    } else if (!before.inside && !before.node.isConnected) {
      var button = document.querySelector('[data-dialog-open="' + CSS.escape(before.id) + '"]');
      var loader = opener.get(before.node);
      if (!button && loader && loader.id) button = document.getElementById(loader.id);
      if (button && R.visible(button)) button.focus();
    }
  });
})(Roster);
