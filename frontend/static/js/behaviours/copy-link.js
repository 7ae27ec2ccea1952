// Copy link ([data-copy-link]: a read-only field and its [data-copy-link-button]): the field's
// text goes to the clipboard, then the button hears roster:copied, on which htmx posts that the
// link was copied (the activity log's entry; the link itself is never sent). Loaded only by the
// confirmation that shows an invitation's link (shared/_invite_link.html), not in app.js; htmx
// runs it again at each swap of that part, hence `R.copyLink`.
(function (R) {
  "use strict";
  if (R.copyLink) return;
  R.copyLink = true;
  function copy(field) {
    field.focus();
    field.select();
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(field.value);
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
  }
  R.on("[data-copy-link]", function (box) {
    var field = box.querySelector("input");
    var button = box.querySelector("[data-copy-link-button]");
    if (!field || !button) return;
    field.addEventListener("focus", function () { field.select(); });
    button.addEventListener("click", function () {
      copy(field).then(function () {
        button.focus();
        R.say({ kind: "success", text: R.t("linkCopied") });
        htmx.trigger(button, "roster:copied");
      }, function () {
        R.say({ kind: "error", text: R.t("linkNotCopied") });
      });
    });
  });
})(Roster);
