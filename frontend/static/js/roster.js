// Roster's script: what htmx does not do by itself. This file is the shared core; each behaviour
// is a file of its own under behaviours/. The server sends them as one answer,
// /static/js/app.js, in the order app/http/plumbing/delivery.py names (APP_SCRIPT), minified:
// no build step. No inline script anywhere (CSP: script-src 'self'; style-src 'self').
//
// htmx 4.0.1 names these files and the templates rely on, checked in vendor/htmx-4.0.1/htmx.js
// (and four.htmx.org's reference):
//   attributes: hx-get/hx-post/..., hx-target, hx-swap (default innerHTML), hx-confirm (native
//     window.confirm unless an htmx:confirm listener calls preventDefault: ours does), hx-boost,
//     hx-swap-oob, hx-vals, hx-disable. Inheritance is explicit: only `name:inherited` attributes
//     reach descendants (config implicitInheritance=false), hence <body hx-boost:inherited="true">.
//   config: <meta name="htmx-config" content='{...}'> (JSON or HCON): includeIndicatorCSS=false
//     (the .htmx-request rules live in roster.css), defaultTimeout 15000 ms (then htmx:error),
//     noSwap [204, 304, "5xx"]: a server fault never replaces anything; 4xx ARE swapped (forms
//     re-rendered with their errors).
//   events (all bubble to document): htmx:config:request (detail.ctx.request.{method,headers}),
//     htmx:confirm (detail.ctx.confirm, issueRequest, dropRequest; fired only with hx-confirm),
//     htmx:before:request, htmx:after:request (detail.ctx.response.{status,raw}, ctx.hx: the
//     HX-* headers), htmx:before:swap (preventDefault cancels the swap; detail.tasks[].target),
//     htmx:after:swap (on the source element, or on what replaced it; ctx.target is a selector
//     string after HX-Retarget), htmx:finally:request, htmx:error (network error or timeout),
//     htmx:after:process (on each piece of content htmx has just taken in, document.body first:
//     htmx 4's htmx.onLoad listens to it, where htmx 2 had htmx:load).
//   extension hx-sse (vendor/htmx-4.0.1/ext/hx-sse.js), on the hx-sse:connect element:
//     htmx:sse:after:connection (detail.connection.{status,attempt}), htmx:sse:error, and each
//     event of the stream by its name (roster:changed, detail.data).
//   request headers: HX-Request: true, HX-Boosted: true (boosted links/forms), HX-Request-Type:
//     full (target is <body> or hx-select) | partial, HX-Current-URL.
//   response headers: HX-Location (htmx GET + push, no reload), HX-Redirect (full load),
//     HX-Retarget, HX-Reswap, HX-Trigger (JSON {"name": detail}, fired on the source element
//     after the swap, and also after a request that swapped nothing).
//
// Roster's own attributes, each read by one behaviour (behaviours/<file>):
//   data-messages (the live region, messages.js); data-dialog, data-close-on=EVENT,
//   data-dialog-open=ID, data-dialog-close, data-dialog-load=ID (dialogs.js); data-confirm-title
//   / -action / -dismiss (confirm.js); data-combobox (+ -email, -chosen: combobox.js);
//   data-first-error, data-error-for (form-errors.js); data-generate-password (password.js);
//   data-menu (menu.js); data-live-regions, data-live-src, data-live-select, data-live-kinds
//   (live.js).
// Roster's own events sent with HX-Trigger: roster:associated (closes the dialog that names it in
//   data-close-on), roster:flash {"messages": [{"kind": "success|error|info", "text": "...",
//   "retry": true?, "undo": {"url", "token"}?}]} (said in the live region, messages.js).
var Roster = (function () {
  "use strict";
  var R = {};

  // Behaviours: R.on(selector, attach) calls attach(element) once for each element that
  // matches, in the page as it is and in every piece of content htmx takes in later.
  var behaviours = [];
  function attachIn(root, b) {
    if (!root.querySelectorAll) return;
    var found = Array.prototype.slice.call(root.querySelectorAll(b[0]));
    if (root.matches(b[0])) found.unshift(root);
    found.forEach(function (el) {
      if (b[2].has(el)) return;
      b[2].add(el);
      b[1](el);
    });
  }
  R.on = function (selector, attach) {
    var b = [selector, attach, new WeakSet()];
    behaviours.push(b);
    attachIn(document.documentElement, b);
  };
  document.addEventListener("htmx:after:process", function (event) {
    behaviours.forEach(function (b) { attachIn(event.target, b); });
  });

  // Rendered and reachable: not disabled, not hidden, not inside a closed <details> (whose
  // content Chromium still lays out).
  R.visible = function (el) {
    if (!el || !el.isConnected || el.disabled || el.getClientRects().length === 0) return false;
    var closed = el.closest("details:not([open])");
    if (closed && !(el.tagName === "SUMMARY" && el.parentElement === closed)) return false;
    return el.checkVisibility ? el.checkVisibility() : true;
  };
  R.focusOn = function (el) {
    if (!R.visible(el)) return false;
    el.focus();
    return document.activeElement === el;
  };
  R.FOCUSABLE = "a[href], button:not([disabled]), summary, input:not([type=hidden]):not([disabled]), select, textarea";
  R.firstFocusable = function (root) {
    var all = root ? root.querySelectorAll(R.FOCUSABLE) : [];
    for (var i = 0; i < all.length; i++) if (R.visible(all[i])) return all[i];
    return null;
  };
  // An element that takes focus only from the script (a heading, a message).
  R.focusHere = function (el) {
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus();
  };
  R.focusMain = function () {
    var main = document.getElementById("main");
    var target = main && (main.querySelector("h1") || main);
    if (target) R.focusHere(target);
  };

  // The script's own words, in the page's language: <meta name="roster-texts"> (JSON, from
  // app/http/plumbing/js_texts.py), read once.
  var texts;
  R.t = function (key) {
    try { texts = texts || JSON.parse(document.querySelector("meta[name=roster-texts]").content); } catch (e) { texts = {}; }
    return texts[key] || key;
  };

  // The browser's time zone, for the server to write dates in (a cookie, app.core.i18n).
  try {
    document.cookie = "roster_tz=" + encodeURIComponent(Intl.DateTimeFormat().resolvedOptions().timeZone) + ";path=/;max-age=31536000";
  } catch (e) { /* dates stay in UTC */ }

  // CSRF: every state-changing htmx request carries the token as a header.
  document.addEventListener("htmx:config:request", function (event) {
    var request = event.detail.ctx.request;
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (request.method && request.method.toUpperCase() !== "GET") {
      request.headers["X-CSRFToken"] = meta ? meta.content : "";
    }
  });

  return R;
})();
