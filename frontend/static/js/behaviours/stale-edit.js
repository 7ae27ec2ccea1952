// Stale edit: an open form is told when what it edits was just changed by someone else.
//
// Attached on htmx's load (htmx.onLoad: htmx:after:process) to each [data-stale-edit="KINDS"]
// element, which carries its own check: an hx-get with hx-trigger="roster:stale-check" that
// asks the server whether what the form edits is still what it was opened on, answered with a
// notice or nothing (app.http.shared.account_users.permission_changes). The page's live stream
// ([data-live-regions], app.js) says only "roster:changed" and the kinds of change ("people",
// "all"); on news of one of KINDS this triggers the check. The form itself is left as it is:
// the person's ticks stay, and a save is still the server's compare-and-set.
(function () {
  "use strict";

  function concerns(element, news) {
    var kinds = String((news && news.data) || "all").split(/\s+/);
    var own = (element.getAttribute("data-stale-edit") || "").split(/\s+/).filter(Boolean);
    return kinds.indexOf("all") >= 0 || own.some(function (kind) { return kinds.indexOf(kind) >= 0; });
  }

  function attach(element) {
    if (element.rosterStaleEdit) return;
    element.rosterStaleEdit = true;
    function heard(event) {
      if (!element.isConnected) { document.removeEventListener("roster:changed", heard); return; }
      var stream = event.target;
      if (!stream.hasAttribute || !stream.hasAttribute("data-live-regions")) return;
      if (concerns(element, event.detail)) htmx.trigger(element, "roster:stale-check");
    }
    document.addEventListener("roster:changed", heard);
  }

  htmx.onLoad(function (root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches("[data-stale-edit]")) attach(root);
    root.querySelectorAll("[data-stale-edit]").forEach(attach);
  });
})();
