// One failure model for every htmx request (page-wide: any request may fail).
//   4xx: the server re-renders the form or section with its errors (swapped as usual).
//   401/403 of an ended session: the server answers HX-Location to the login page, which
//     returns here afterwards (kept-form.js keeps what was typed).
//   5xx, timeouts (15 s), network errors: nothing is swapped (noSwap 5xx); a message with
//     Retry says so. "Could not be reached" goes as soon as Roster answers again: any answer to
//     a request, or the live stream connecting again (live.js calls R.reached).
(function (R) {
  "use strict";
  R.reached = function () {
    document.querySelectorAll("#flash [data-unreachable]").forEach(R.dismiss);
  };
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail.ctx;
    var status = ctx.response && ctx.response.status;
    var hx = ctx.hx || {};
    if (status) R.reached();
    var saidByServer = !!hx.trigger && hx.trigger.indexOf("roster:flash") >= 0;
    if (status >= 500 && !saidByServer) {
      R.say({
        kind: "error",
        retry: true,
        text: status === 503 || status === 502 || status === 504
          ? R.t("notAnswering")
          : R.t("serverFault"),
      }, ctx.sourceElement);
    }
  });
  document.addEventListener("htmx:error", function (event) {
    var ctx = event.detail.ctx || {};
    var timedOut = ctx.request && ctx.request.signal && ctx.request.signal.reason === "timeout";
    var note = R.say({
      kind: "error",
      retry: true,
      text: timedOut
        ? R.t("tooSlow")
        : R.t("unreachable"),
    }, ctx.sourceElement || event.target);
    if (note && !timedOut) note.setAttribute("data-unreachable", "");
  });
  // A whole page never lands inside a fragment, whatever answered (a proxy, a login page).
  document.addEventListener("htmx:before:swap", function (event) {
    var ctx = event.detail.ctx;
    if (!ctx || !ctx.text || ctx.target === document.body || ctx.swap === "none" || ctx.select) return;
    var swapsBody = (event.detail.tasks || []).some(function (t) { return t.target === document.body; });
    if (!swapsBody && /^\s*<!doctype html|<html[\s>]/i.test(ctx.text)) {
      event.preventDefault();
      R.say({ kind: "error", retry: true, text: R.t("notChanged") }, ctx.sourceElement);
    }
  });
})(Roster);
