// Roster's only script: what htmx does not do by itself. No inline script anywhere (CSP).
//
// htmx 4 names used by the app (checked in vendor/htmx-4.0.1/htmx.js):
//   events: htmx:config:request (detail.ctx.request.headers), htmx:after:swap
//   request headers: HX-Request, HX-Boosted, HX-Request-Type (full|partial)
//   response headers: HX-Location, HX-Redirect, HX-Trigger, HX-Retarget, HX-Reswap
//   inheritance is explicit: hx-boost:inherited on <body>
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
  // Invite New User succeeded: the server sends a fresh form; put focus back in it.
  document.addEventListener("htmx:after:swap", function () {
    fadeFlashes();
    initMeters();
  });

  // Confirmation messages fade after a few seconds; errors stay until the next action.
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
