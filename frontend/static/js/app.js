// Roster's only script: what htmx does not do by itself. No inline script anywhere (CSP:
// script-src 'self'; style-src 'self').
//
// htmx 4.0.1 names this file and the templates rely on, checked in vendor/htmx-4.0.1/htmx.js
// (and four.htmx.org's reference):
//   attributes: hx-get/hx-post/..., hx-target, hx-swap (default innerHTML), hx-confirm (native
//     window.confirm unless an htmx:confirm listener calls preventDefault), hx-boost,
//     hx-swap-oob. Inheritance is explicit: only `name:inherited` attributes reach descendants
//     (config implicitInheritance=false), hence <body hx-boost:inherited="true">.
//   config: <meta name="htmx-config" content='{"includeIndicatorCSS": false}'> (JSON or HCON);
//     includeIndicatorCSS=false stops htmx adopting its own indicator stylesheet; the
//     .htmx-indicator / .htmx-request rules live in roster.css. noSwap defaults to [204, 304]:
//     4xx/5xx responses ARE swapped (forms re-rendered with errors just work).
//   events (all bubble to document): htmx:config:request (detail.ctx.request.{method,headers}),
//     htmx:confirm (detail.ctx.confirm, issueRequest, dropRequest; fired only with hx-confirm),
//     htmx:before:request, htmx:after:request, htmx:response:error, htmx:before:swap
//     (detail.ctx, detail.tasks[].target), htmx:after:swap, htmx:after:settle,
//     htmx:finally:request, htmx:error.
//   request headers: HX-Request: true, HX-Boosted: true (boosted links/forms), HX-Request-Type:
//     full (target is <body> or hx-select) | partial, HX-Target (tag#id), HX-Source (tag#id),
//     HX-Current-URL, HX-History-Restore-Request: true (back/forward: htmx 4 keeps no history
//     cache and re-fetches the page). HX-Trigger / HX-Trigger-Name / HX-Prompt are gone.
//   response headers: HX-Location (htmx GET + push, no reload), HX-Redirect (full load),
//     HX-Refresh: true, HX-Retarget, HX-Reswap, HX-Reselect, HX-Push-Url, HX-Replace-Url,
//     HX-Trigger ("a, b" or JSON {"name": detail}; detail.target selects the element). HX-Trigger
//     fires after the swap; there is no HX-Trigger-After-Swap / -After-Settle in htmx 4.
//   Roster's own attributes: data-dialog-open=ID (open a dialog), data-dialog-close,
//     data-dialog-load=ID (on an hx-get button: open the dialog its response filled).
//   Roster's own events sent with HX-Trigger: roster:associated (close the Associate User
//     dialog), roster:flash {"kind": "success|error|info", "text": "..."} (show a message).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // CSRF: every state-changing htmx request carries the token as a header.
  document.addEventListener("htmx:config:request", function (event) {
    var request = event.detail.ctx.request;
    if (request.method && request.method.toUpperCase() !== "GET") {
      request.headers["X-CSRFToken"] = csrfToken();
    }
  });

  // Dialogs: [data-dialog-open=ID] opens <dialog id=ID> modally; [data-dialog-close] closes
  // its dialog; Esc closes (native); focus returns to the opener.
  var opener = new WeakMap();
  document.addEventListener("click", function (event) {
    var open = event.target.closest("[data-dialog-open]");
    if (open) {
      var dialog = document.getElementById(open.dataset.dialogOpen);
      if (dialog) {
        event.preventDefault();
        opener.set(dialog, open);
        dialog.showModal();
        var first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button");
        if (first) first.focus();
      }
      return;
    }
    var close = event.target.closest("[data-dialog-close]");
    if (close) {
      var parent = close.closest("dialog");
      if (parent) { event.preventDefault(); parent.close(); }
    }
  });
  document.addEventListener("close", function (event) {
    var back = opener.get(event.target);
    if (back && document.contains(back)) back.focus();
  }, true);

  // Associate User succeeded: close its dialog and clear it for the next time.
  document.addEventListener("roster:associated", function () {
    var dialog = document.getElementById("associate-user");
    if (!dialog) return;
    var form = dialog.querySelector("form");
    if (form) form.reset();
    var results = document.getElementById("associate-results");
    if (results) results.innerHTML = "";
    dialog.close();
  });
  // Swaps and dialogs. A swap inside an open dialog (a form re-rendered with its errors) keeps
  // the dialog open, even when the dialog itself was replaced. A swap that replaced an open
  // dialog from outside (the section around it, after a save) lets it close, and puts focus
  // back on the button that opens it, so keyboard users do not land on <body>.
  var swapDialog = null;
  document.addEventListener("htmx:before:swap", function (event) {
    swapDialog = null;
    var open = document.querySelector("dialog[open]");
    if (!open || !open.id) return;
    var tasks = (event.detail && event.detail.tasks) || [];
    var inside = tasks.some(function (task) {
      var target = typeof task.target === "string" ? document.querySelector(task.target) : task.target;
      return target && open.contains(target);
    });
    swapDialog = { id: open.id, inside: inside, node: open };
  });
  document.addEventListener("htmx:after:swap", function () {
    var before = swapDialog;
    swapDialog = null;
    if (before) {
      var dialog = document.getElementById(before.id);
      if (before.inside && dialog && !dialog.open) {
        if (before.node !== dialog && opener.has(before.node)) opener.set(dialog, opener.get(before.node));
        dialog.showModal();
      } else if (!before.inside && !before.node.isConnected) {
        var button = document.querySelector('[data-dialog-open="' + CSS.escape(before.id) + '"]');
        var loader = opener.get(before.node);
        if (!button && loader && loader.getAttribute("hx-get")) {
          button = document.querySelector('[hx-get="' + CSS.escape(loader.getAttribute("hx-get")) + '"]');
        }
        if (button) button.focus();
      }
    }
    fadeFlashes();
    initMeters();
  });

  // Dialogs filled on demand: [data-dialog-load=ID][hx-get] loads the content of <dialog id=ID>
  // (hx-target), which then opens, with focus inside; closing returns focus to the button.
  document.addEventListener("htmx:after:swap", function (event) {
    var source = event.target && event.target.closest && event.target.closest("[data-dialog-load]");
    if (!source) return;
    var dialog = document.getElementById(source.dataset.dialogLoad);
    if (!dialog || dialog.open) return;
    opener.set(dialog, source);
    dialog.showModal();
    var first = dialog.querySelector("input:not([type=hidden]), select, textarea, button");
    if (first) first.focus();
  });

  // A message sent by the server with the response header
  // HX-Trigger: {"roster:flash": {"kind": "success", "text": "Saved."}}
  document.addEventListener("roster:flash", function (event) {
    var region = document.getElementById("flash");
    var detail = event.detail || {};
    if (!region || !detail.text) return;
    var kind = ["success", "error", "info"].indexOf(detail.kind) >= 0 ? detail.kind : "info";
    var message = document.createElement("div");
    message.className = "flash flash-" + kind;
    message.textContent = detail.text;
    region.appendChild(message);
    fadeFlashes();
  });

  // Confirmation messages (success, info) fade after about 5 s; errors stay until the next
  // page or swap replaces them, so they cannot vanish before they are read.
  function fadeFlashes() {
    document.querySelectorAll(".flash-success:not([data-fading]), .flash-info:not([data-fading])").forEach(function (el) {
      el.setAttribute("data-fading", "");
      setTimeout(function () { el.classList.add("is-hidden"); }, 5000);
      setTimeout(function () { el.remove(); }, 5600);
    });
  }

  // Passwords: Generate fills a strong random one and shows it; the meter uses zxcvbn,
  // the same estimator the server applies.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-generate-password]");
    if (!button) return;
    var input = document.getElementById(button.dataset.generatePassword);
    var alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_!";
    var bytes = new Uint32Array(20);
    crypto.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += alphabet[bytes[i] % alphabet.length];
    input.value = out;
    input.type = "text";
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
  });

  var LABELS = ["Very weak", "Weak", "Fair", "Strong", "Very strong"];
  var zxcvbnLoading = null;
  function withZxcvbn(callback) {
    if (window.zxcvbn) return callback();
    if (!zxcvbnLoading) {
      zxcvbnLoading = new Promise(function (resolve) {
        var script = document.createElement("script");
        script.src = "/static/vendor/zxcvbn-4.4.2/zxcvbn.js";
        script.onload = resolve;
        document.head.appendChild(script);
      });
    }
    zxcvbnLoading.then(callback);
  }
  function updateMeter(input) {
    var meter = document.getElementById(input.dataset.strengthMeter);
    if (!meter) return;
    var label = meter.querySelector(".strength-label");
    if (!input.value) {
      meter.dataset.score = "-1";
      label.textContent = "Enter a Password";
      return;
    }
    withZxcvbn(function () {
      var score = window.zxcvbn(input.value.slice(0, 100)).score;
      meter.dataset.score = String(score);
      label.textContent = LABELS[score] + (score < 2 ? " (too easy to guess)" : "");
    });
  }
  function initMeters() {
    document.querySelectorAll("[data-strength-meter]:not([data-meter-ready])").forEach(function (input) {
      input.setAttribute("data-meter-ready", "");
      input.addEventListener("input", function () { updateMeter(input); });
      if (input.value) updateMeter(input);
    });
  }

  // Menus (<details>): close when clicking elsewhere or pressing Esc.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });

  function init() { fadeFlashes(); initMeters(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
