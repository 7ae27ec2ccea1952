// Confirmations of destructive actions (hx-confirm) in an in-page dialog that names the person
// and the account: data-confirm-title, the hx-confirm text, data-confirm-action (the button),
// data-confirm-dismiss. The safe choice has focus; Esc keeps things as they are. Page-wide: it
// stands in for the browser's window.confirm for every hx-confirm, inherited ones too.
(function (R) {
  "use strict";
  var dialog = null;
  function build() {
    var d = document.createElement("dialog");
    d.id = "confirm-dialog";
    d.className = "confirm-dialog";
    d.setAttribute("aria-labelledby", "confirm-title");
    d.setAttribute("aria-describedby", "confirm-text");
    d.innerHTML =
      '<div><div class="dialog-header"><h2 id="confirm-title"></h2></div>' +
      '<div class="dialog-body"><p id="confirm-text"></p></div>' +
      '<div class="dialog-footer"><button type="button" class="btn" data-confirm-no></button>' +
      '<button type="button" class="btn btn-danger" data-confirm-yes></button></div></div>';
    document.body.appendChild(d);
    return d;
  }
  document.addEventListener("htmx:confirm", function (event) {
    var detail = event.detail;
    var source = event.target;
    event.preventDefault();
    if (!dialog || !dialog.isConnected) dialog = build();
    var d = dialog;
    var data = source.dataset || {};
    d.querySelector("#confirm-title").textContent = data.confirmTitle || "Are you sure?";
    d.querySelector("#confirm-text").textContent = detail.ctx.confirm;
    var yes = d.querySelector("[data-confirm-yes]");
    var no = d.querySelector("[data-confirm-no]");
    yes.textContent = data.confirmAction || R.t("confirm");
    no.textContent = data.confirmDismiss || R.t("cancel");
    var menu = source.closest("[data-menu]");
    var back = menu ? menu.querySelector("summary") : source;
    var settled = false;
    function finish(go) {
      if (settled) return;
      settled = true;
      yes.onclick = no.onclick = null;
      d.removeEventListener("close", onClose);
      if (d.open) d.close();
      if (go) detail.issueRequest();
      else { detail.dropRequest(); if (R.visible(back)) back.focus(); }
    }
    function onClose() { finish(false); }
    yes.onclick = function () { finish(true); };
    no.onclick = function () { finish(false); };
    d.addEventListener("close", onClose);
    d.showModal();
    no.focus();
  });
})(Roster);
