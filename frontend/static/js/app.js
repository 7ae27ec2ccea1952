// Roster's only script: what htmx does not do by itself. No inline script anywhere (CSP:
// script-src 'self'; style-src 'self').
//
// htmx 4.0.1 names this file and the templates rely on, checked in vendor/htmx-4.0.1/htmx.js
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
//     htmx:before:request, htmx:after:request (detail.ctx.response.status, ctx.hx: the HX-*
//     headers), htmx:before:swap (preventDefault cancels the swap; detail.tasks[].target),
//     htmx:after:swap, htmx:finally:request, htmx:error (network error or timeout).
//   request headers: HX-Request: true, HX-Boosted: true (boosted links/forms), HX-Request-Type:
//     full (target is <body> or hx-select) | partial, HX-Current-URL.
//   response headers: HX-Location (htmx GET + push, no reload), HX-Redirect (full load),
//     HX-Retarget, HX-Reswap, HX-Trigger (JSON {"name": detail}, fired on the source element
//     after the swap, and also after a request that swapped nothing).
//   Roster's own attributes: data-dialog-open=ID (open a dialog), data-dialog-close,
//     data-dialog-load=ID (on an hx-get button: open the dialog its response filled),
//     data-confirm-title / -action / -dismiss (the in-page confirmation of an hx-confirm),
//     data-combobox (Select User).
//   Roster's own events sent with HX-Trigger: roster:associated (close the Associate User
//     dialog), roster:flash {"messages": [{"kind": "success|error|info", "text": "...",
//     "retry": true?, "undo": {"url", "token"}?}]} (say it in the live region).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Rendered and reachable: not disabled, not hidden, not inside a closed <details> (whose
  // content Chromium still lays out).
  function visible(el) {
    if (!el || !el.isConnected || el.disabled || el.getClientRects().length === 0) return false;
    var closed = el.closest("details:not([open])");
    if (closed && !(el.tagName === "SUMMARY" && el.parentElement === closed)) return false;
    return el.checkVisibility ? el.checkVisibility() : true;
  }
  function focusOn(el) {
    if (!visible(el)) return false;
    el.focus();
    return document.activeElement === el;
  }
  var FOCUSABLE = "a[href], button:not([disabled]), summary, input:not([type=hidden]):not([disabled]), select, textarea";
  function firstFocusable(root) {
    if (!root) return null;
    var all = root.querySelectorAll(FOCUSABLE);
    for (var i = 0; i < all.length; i++) if (visible(all[i])) return all[i];
    return null;
  }

  // CSRF: every state-changing htmx request carries the token as a header.
  document.addEventListener("htmx:config:request", function (event) {
    var request = event.detail.ctx.request;
    if (request.method && request.method.toUpperCase() !== "GET") {
      request.headers["X-CSRFToken"] = csrfToken();
    }
  });

  // ---------------------------------------------------------------------------------------
  // The live region (#flash): every message of the page, success or failure, in view (fixed)
  // and announced. Confirmations fade after 8 s unless hovered or focused; errors stay until
  // dismissed. A message may offer Retry (the failed request again) or Undo.
  var region = function () { return document.getElementById("flash"); };

  function say(message, source) {
    var box = region();
    if (!box || !message || !message.text) return null;
    var kind = ["success", "error", "info"].indexOf(message.kind) >= 0 ? message.kind : "info";
    var note = document.createElement("div");
    note.className = "flash flash-" + kind;
    note.setAttribute("role", kind === "error" ? "alert" : "status");
    note.tabIndex = -1;
    var text = document.createElement("span");
    text.className = "flash-text";
    text.textContent = message.text;
    note.appendChild(text);
    if (message.retry && source) note.appendChild(retryButton(source, note));
    if (message.undo && message.undo.url) note.appendChild(undoButton(message.undo, note));
    note.appendChild(closeButton(note));
    if (kind === "error") box.querySelectorAll(".flash-error").forEach(dismiss);
    box.appendChild(note);
    if (kind !== "error") fadeLater(note, message.undo ? 10000 : 8000);
    return note;
  }
  function closeButton(note) {
    var close = document.createElement("button");
    close.type = "button";
    close.className = "flash-close";
    close.setAttribute("aria-label", "Dismiss message");
    close.textContent = "×";
    close.addEventListener("click", function () { dismiss(note); });
    return close;
  }
  function dismiss(note) {
    var focused = note.contains(document.activeElement);
    note.remove();
    if (focused) focusMain();
  }
  function fadeLater(note, ms) {
    var timer = null;
    function arm() { timer = setTimeout(function () { note.classList.add("is-hidden"); setTimeout(function () { if (!note.matches(":hover, :focus-within")) note.remove(); else note.classList.remove("is-hidden"); }, 600); }, ms); }
    note.addEventListener("mouseenter", function () { clearTimeout(timer); });
    note.addEventListener("focusin", function () { clearTimeout(timer); });
    note.addEventListener("mouseleave", arm);
    note.addEventListener("focusout", function (event) { if (!note.contains(event.relatedTarget)) arm(); });
    arm();
  }
  function retryButton(source, note) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm";
    button.textContent = "Retry";
    button.addEventListener("click", function () {
      note.remove();
      retry(source);
    });
    return button;
  }
  function retry(source) {
    if (!source || !source.isConnected) { location.reload(); return; }
    if (source.tagName === "FORM") source.requestSubmit();
    else if (source.tagName === "INPUT") source.dispatchEvent(new Event("input", { bubbles: true }));
    else source.click();
  }
  function undoButton(undo, note) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm";
    button.textContent = "Undo";
    button.setAttribute("hx-post", undo.url);
    button.setAttribute("hx-vals", JSON.stringify({ token: undo.token }));
    button.setAttribute("hx-target", "#account-users");
    button.setAttribute("hx-swap", "outerHTML");
    button.addEventListener("htmx:after:request", function () { note.remove(); });
    setTimeout(function () { if (window.htmx) window.htmx.process(button); });
    return button;
  }
  function focusMain() {
    var main = document.getElementById("main");
    var target = main && (main.querySelector("h1") || main);
    if (!target) return;
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  }

  // Messages sent by the server with a fragment (HX-Trigger: roster:flash), fired on the
  // element that made the request (Retry repeats it).
  document.addEventListener("roster:flash", function (event) {
    var detail = event.detail || {};
    var source = event.target instanceof Element ? event.target : null;
    (detail.messages || []).forEach(function (m) { say(m, source); });
  });

  // Messages rendered into a whole page fade like the others.
  function armRenderedMessages() {
    document.querySelectorAll("#flash .flash:not([data-armed])").forEach(function (note) {
      note.setAttribute("data-armed", "");
      note.appendChild(closeButton(note));
      if (!note.classList.contains("flash-error")) fadeLater(note, 8000);
    });
  }

  // ---------------------------------------------------------------------------------------
  // One failure model for every htmx request.
  //   4xx: the server re-renders the form or section with its errors (swapped as usual).
  //   401/403 of an ended session: the server answers HX-Location to the login page, which
  //     returns here afterwards; what was typed into the form is kept for that return.
  //   5xx, timeouts (15 s), network errors: nothing is swapped (noSwap 5xx); a message with
  //     Retry says so.
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail.ctx;
    var status = ctx.response && ctx.response.status;
    var hx = ctx.hx || {};
    if (hx.location && /[?&]ended=1/.test(hx.location)) keepFormOf(ctx.sourceElement);
    var saidByServer = !!hx.trigger && hx.trigger.indexOf("roster:flash") >= 0;
    if (status >= 500 && !saidByServer) {
      say({
        kind: "error",
        retry: true,
        text: status === 503 || status === 502 || status === 504
          ? "Roster is not answering right now; nothing was changed. Try again in a moment."
          : "Something went wrong on the server; nothing was changed. Try again in a moment.",
      }, ctx.sourceElement);
    }
  });
  document.addEventListener("htmx:error", function (event) {
    var ctx = event.detail.ctx || {};
    var timedOut = ctx.request && ctx.request.signal && ctx.request.signal.reason === "timeout";
    say({
      kind: "error",
      retry: true,
      text: timedOut
        ? "Roster took too long to answer. Check whether it was done before trying again."
        : "Roster could not be reached: check your connection. Nothing was changed.",
    }, ctx.sourceElement || event.target);
  });
  // A whole page never lands inside a fragment, whatever answered (a proxy, a login page).
  document.addEventListener("htmx:before:swap", function (event) {
    var ctx = event.detail.ctx;
    if (!ctx || !ctx.text || ctx.target === document.body || ctx.swap === "none" || ctx.select) return;
    var swapsBody = (event.detail.tasks || []).some(function (t) { return t.target === document.body; });
    if (!swapsBody && /^\s*<!doctype html|<html[\s>]/i.test(ctx.text)) {
      event.preventDefault();
      say({ kind: "error", retry: true, text: "Something went wrong; the page was not changed. Try again in a moment." }, ctx.sourceElement);
    }
  });

  // An ended session: the form's values wait in this tab's sessionStorage until the person is
  // back on the page after logging in (never passwords or tokens).
  var KEPT = "roster:kept:";
  function keepFormOf(source) {
    var form = source && (source.tagName === "FORM" ? source : source.closest("form"));
    if (!form || !form.id) return;
    var values = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "password" || el.type === "hidden" || el.type === "submit" || el.type === "button") return;
      if ((el.type === "checkbox" || el.type === "radio")) { if (el.checked) values.push([el.name, el.value, true]); }
      else values.push([el.name, el.value]);
    });
    try { sessionStorage.setItem(KEPT + location.pathname, JSON.stringify({ form: form.id, values: values })); } catch (e) { /* storage off */ }
  }
  function restoreKeptForm() {
    var kept;
    try { kept = JSON.parse(sessionStorage.getItem(KEPT + location.pathname) || "null"); } catch (e) { kept = null; }
    if (!kept) return;
    var form = document.getElementById(kept.form);
    if (!form) return;
    sessionStorage.removeItem(KEPT + location.pathname);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = kept.values.some(function (v) { return v[2] && v[0] === el.name && v[1] === el.value; });
      } else if (el.name && el.type !== "password" && el.type !== "hidden") {
        var found = kept.values.filter(function (v) { return v[0] === el.name && !v[2]; })[0];
        if (found) el.value = found[1];
      }
    });
    say({ kind: "info", text: "What you typed before your session ended is back in the form: check it and send it again." });
    var first = firstFocusable(form);
    if (first) first.focus();
  }

  // ---------------------------------------------------------------------------------------
  // Busy: the control that started a request is disabled and shows it until the answer came,
  // so a double click sends once. Links (boosted navigation) show it too.
  document.addEventListener("htmx:before:request", function (event) {
    var ctx = event.detail.ctx;
    var source = ctx.sourceElement;
    if (!source || source === document.body) return;
    var controls = source.tagName === "FORM"
      ? Array.prototype.slice.call(source.querySelectorAll("button[type=submit], button:not([type])"))
      : (source.matches("button, a, summary") ? [source] : []);
    ctx.rosterBusy = controls;
    ctx.rosterDisabled = controls.filter(function (c) { return c.tagName === "BUTTON" && !c.disabled; });
    controls.forEach(function (c) { c.setAttribute("aria-busy", "true"); c.classList.add("is-busy"); });
    ctx.rosterDisabled.forEach(function (c) { c.disabled = true; });
    // A live refresh moves focus only back to the same control, when focus was in the region.
    var active = document.activeElement;
    if (!source.hasAttribute("data-live-src")) rememberFocus(source);
    else if (source.contains(active)) rememberFocus(active);
    else focusPlan = null;
  });
  document.addEventListener("htmx:finally:request", function (event) {
    var ctx = event.detail.ctx;
    (ctx.rosterBusy || []).forEach(function (c) { c.removeAttribute("aria-busy"); c.classList.remove("is-busy"); });
    (ctx.rosterDisabled || []).forEach(function (c) { c.disabled = false; });
  });

  // ---------------------------------------------------------------------------------------
  // Focus after a swap never falls to <body>: the same control again (Resend), else the next
  // one in its row, else the row now in its place (after Remove or Cancel), else the section's
  // heading. A form that came back with errors puts focus on its first invalid field.
  var focusPlan = null;
  function rememberFocus(source) {
    var row = source.closest("tr");
    var table = row && row.closest("table");
    focusPlan = {
      id: source.id || (source.closest("[id]") || {}).id,
      rowId: row && row.id,
      tableClass: table && table.className,
      rowIndex: row ? Array.prototype.indexOf.call(row.parentNode.children, row) : -1,
      section: source.closest("section[id]") && source.closest("section[id]").id,
    };
  }
  function restoreFocus(swapped) {
    var plan = focusPlan;
    var active = document.activeElement;
    var lost = !active || active === document.body || !active.isConnected;
    // The first problem in document order: an invalid field, the form's summary, or a field
    // group's error (then its first control).
    var problem = swapped && swapped.tagName === "FORM" &&
      swapped.querySelector("[aria-invalid=true], .form-errors:not([hidden]), .error:not([hidden])");
    if (problem && (lost || swapped.contains(active))) {
      var group = problem.matches(".error") && problem.closest("fieldset, .field");
      var control = group ? firstFocusable(group) : problem;
      if (control && !control.matches(FOCUSABLE)) control.setAttribute("tabindex", "-1");
      if (focusOn(control)) return;
    }
    if (!lost || !plan) return;
    var same = plan.id && document.getElementById(plan.id);
    if (same && focusOn(same.matches(FOCUSABLE) ? same : firstFocusable(same))) return;
    var row = plan.rowId && document.getElementById(plan.rowId);
    if (focusOn(firstFocusable(row))) return;
    if (plan.tableClass && plan.rowIndex >= 0) {
      var table = document.querySelector("table[class='" + plan.tableClass + "']");
      var rows = table ? table.tBodies[0].rows : [];
      var near = rows[Math.min(plan.rowIndex, rows.length - 1)];
      if (focusOn(firstFocusable(near))) return;
    }
    var section = plan.section && document.getElementById(plan.section);
    var heading = section && section.querySelector("h2, h1");
    if (heading) {
      if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
      heading.focus();
      return;
    }
    focusMain();
  }

  // ---------------------------------------------------------------------------------------
  // Dialogs: [data-dialog-open=ID] opens <dialog id=ID> modally; [data-dialog-close] closes
  // its dialog; Esc closes (native); focus returns to the opener.
  var opener = new WeakMap();
  function openDialog(dialog, from) {
    if (from) opener.set(dialog, from);
    dialog.showModal();
    var first = dialog.querySelector("[autofocus]") || firstFocusable(dialog.querySelector(".dialog-body") || dialog);
    if (first) first.focus();
  }
  document.addEventListener("click", function (event) {
    var open = event.target.closest("[data-dialog-open]");
    if (open) {
      var dialog = document.getElementById(open.dataset.dialogOpen);
      if (dialog) { event.preventDefault(); openDialog(dialog, open); }
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
    if (back && visible(back)) back.focus();
    else if (back) restoreFocus(null);
  }, true);

  // Associate User succeeded: close its dialog and clear it for the next time.
  document.addEventListener("roster:associated", function () {
    var dialog = document.getElementById("associate-user");
    if (!dialog) return;
    var form = dialog.querySelector("form");
    if (form) form.reset();
    var results = document.getElementById("associate-results");
    if (results) results.innerHTML = "";
    var combo = dialog.querySelector("[data-combobox]");
    if (combo) resetCombobox(combo);
    dialog.close();
  });

  // Swaps and dialogs. A swap inside an open dialog (a form re-rendered with its errors) keeps
  // the dialog open, even when the dialog itself was replaced. A swap that replaced an open
  // dialog from outside (the section around it, after a save) lets it close, and puts focus
  // back on the button that opens it.
  var swapDialog = null;
  document.addEventListener("htmx:before:swap", function (event) {
    swapDialog = null;
    if (event.defaultPrevented) return;
    var open = document.querySelector("dialog[open]");
    if (!open || !open.id) return;
    var tasks = (event.detail && event.detail.tasks) || [];
    var inside = tasks.some(function (task) {
      var target = typeof task.target === "string" ? document.querySelector(task.target) : task.target;
      return target && open.contains(target);
    });
    swapDialog = { id: open.id, inside: inside, node: open };
  });
  document.addEventListener("htmx:after:swap", function (event) {
    var before = swapDialog;
    swapDialog = null;
    var ctx = event.detail && event.detail.ctx;
    // After an outerHTML swap ctx.target is the element that went: take its successor.
    var swapped = ctx && ctx.target;
    if (swapped && !swapped.isConnected && swapped.id) swapped = document.getElementById(swapped.id) || swapped;
    if (before) {
      var dialog = document.getElementById(before.id);
      if (before.inside && dialog && !dialog.open) {
        if (before.node !== dialog && opener.has(before.node)) opener.set(dialog, opener.get(before.node));
        dialog.showModal();
      } else if (!before.inside && !before.node.isConnected) {
        var button = document.querySelector('[data-dialog-open="' + CSS.escape(before.id) + '"]');
        var loader = opener.get(before.node);
        if (!button && loader && loader.id) button = document.getElementById(loader.id);
        if (button && visible(button)) { button.focus(); return; }
      }
    }
    if (ctx && ctx.target === document.body) return;  // a new page: the browser's own focus
    var form = swapped && swapped.closest && swapped.closest("form");
    restoreFocus(form || swapped);
  });

  // Dialogs filled on demand: [data-dialog-load=ID][hx-get] loads the content of <dialog id=ID>
  // (hx-target), which then opens, with focus inside; closing returns focus to the button.
  document.addEventListener("htmx:after:swap", function (event) {
    var source = event.target && event.target.closest && event.target.closest("[data-dialog-load]");
    if (!source) return;
    var dialog = document.getElementById(source.dataset.dialogLoad);
    if (!dialog || dialog.open) return;
    openDialog(dialog, source);
  });

  // ---------------------------------------------------------------------------------------
  // Confirmations of destructive actions (hx-confirm) in an in-page dialog that names the
  // person and the account: data-confirm-title, the hx-confirm text, data-confirm-action (the
  // button), data-confirm-dismiss. The safe choice has focus; Esc keeps things as they are.
  var confirmDialog = null;
  function buildConfirmDialog() {
    var dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-title");
    dialog.setAttribute("aria-describedby", "confirm-text");
    dialog.innerHTML =
      '<div><div class="dialog-header"><h2 id="confirm-title"></h2></div>' +
      '<div class="dialog-body"><p id="confirm-text"></p></div>' +
      '<div class="dialog-footer"><button type="button" class="btn" data-confirm-no></button>' +
      '<button type="button" class="btn btn-danger" data-confirm-yes></button></div></div>';
    document.body.appendChild(dialog);
    return dialog;
  }
  document.addEventListener("htmx:confirm", function (event) {
    var detail = event.detail;
    var source = event.target;
    event.preventDefault();
    if (!confirmDialog || !confirmDialog.isConnected) confirmDialog = buildConfirmDialog();
    var dialog = confirmDialog;
    var data = source.dataset || {};
    dialog.querySelector("#confirm-title").textContent = data.confirmTitle || "Are you sure?";
    dialog.querySelector("#confirm-text").textContent = detail.ctx.confirm;
    var yes = dialog.querySelector("[data-confirm-yes]");
    var no = dialog.querySelector("[data-confirm-no]");
    yes.textContent = data.confirmAction || "Confirm";
    no.textContent = data.confirmDismiss || "Cancel";
    var opened = source.closest("details.menu") ? source.closest("details.menu").querySelector("summary") : source;
    var settled = false;
    function finish(go) {
      if (settled) return;
      settled = true;
      yes.onclick = no.onclick = null;
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      if (go) detail.issueRequest();
      else { detail.dropRequest(); if (visible(opened)) opened.focus(); }
    }
    function onClose() { finish(false); }
    yes.onclick = function () { finish(true); };
    no.onclick = function () { finish(false); };
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    no.focus();
  });

  // ---------------------------------------------------------------------------------------
  // Select User as a WAI-ARIA combobox (input[data-combobox] + its listbox, filled by htmx):
  // Arrow keys move through the options (aria-activedescendant), Enter or a click picks one
  // into the hidden field named by data-combobox, Esc closes the list and a second Esc clears
  // the text; the number of results is announced by the list's status line.
  function comboParts(input) {
    return {
      input: input,
      list: document.getElementById(input.getAttribute("aria-controls")),
      field: input.form && input.form.elements[input.dataset.combobox],
      email: input.form && input.form.elements[input.dataset.comboboxEmail],
      chosen: document.getElementById(input.dataset.comboboxChosen),
    };
  }
  function options(parts) {
    return parts.list ? Array.prototype.slice.call(parts.list.querySelectorAll("[role=option]")) : [];
  }
  function setActive(parts, option) {
    options(parts).forEach(function (o) { o.classList.toggle("is-active", o === option); o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) {
      parts.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else parts.input.removeAttribute("aria-activedescendant");
  }
  function setExpanded(parts, open) {
    parts.input.setAttribute("aria-expanded", open ? "true" : "false");
    if (parts.list) parts.list.hidden = !open;
  }
  function pick(parts, option) {
    if (!option || option.getAttribute("aria-disabled") === "true") return;
    if (parts.field) parts.field.value = option.dataset.value;
    if (parts.email) parts.email.value = option.dataset.email || "";
    if (parts.chosen) {
      parts.chosen.textContent = "Selected: " + option.dataset.label;
      parts.chosen.hidden = false;
    }
    parts.input.value = option.dataset.label;
    parts.input.removeAttribute("aria-invalid");
    setActive(parts, null);
    setExpanded(parts, false);
  }
  function unpick(parts) {
    if (parts.field) parts.field.value = "";
    if (parts.email) parts.email.value = "";
    if (parts.chosen) { parts.chosen.textContent = ""; parts.chosen.hidden = true; }
  }
  function resetCombobox(input) {
    var parts = comboParts(input);
    unpick(parts);
    setActive(parts, null);
    setExpanded(parts, false);
  }
  document.addEventListener("keydown", function (event) {
    var input = event.target.closest && event.target.closest("input[data-combobox]");
    if (!input) return;
    var parts = comboParts(input);
    var all = options(parts).filter(function (o) { return o.getAttribute("aria-disabled") !== "true"; });
    var current = document.getElementById(input.getAttribute("aria-activedescendant") || "");
    var index = all.indexOf(current);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!all.length) return;
      setExpanded(parts, true);
      var next = event.key === "ArrowDown" ? (index + 1) % all.length : (index <= 0 ? all.length - 1 : index - 1);
      setActive(parts, all[next]);
    } else if (event.key === "Enter") {
      event.preventDefault();  // never submits the dialog from the search box
      if (current) pick(parts, current);
      else if (all.length === 1) pick(parts, all[0]);
    } else if (event.key === "Escape") {
      if (input.getAttribute("aria-expanded") === "true") {
        event.preventDefault();
        setActive(parts, null);
        setExpanded(parts, false);
      } else if (input.value) {
        event.preventDefault();
        input.value = "";
        unpick(parts);
      }
    }
  });
  // A native dialog closes on Esc before keydown default handling: keep it open while Esc
  // still has something to do in the combobox.
  document.addEventListener("cancel", function (event) {
    var input = document.activeElement && document.activeElement.closest && document.activeElement.closest("input[data-combobox]");
    if (input && event.target.contains(input) && (input.getAttribute("aria-expanded") === "true" || input.value)) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("input", function (event) {
    var input = event.target.closest && event.target.closest("input[data-combobox]");
    if (input) unpick(comboParts(input));  // a new search: the earlier choice no longer shows
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest && event.target.closest("[role=option]");
    if (!option) return;
    var list = option.closest("[role=listbox]");
    var input = list && document.querySelector('input[data-combobox][aria-controls="' + CSS.escape(list.id) + '"]');
    if (input) { pick(comboParts(input), option); input.focus(); }
  });
  document.addEventListener("htmx:after:swap", function (event) {
    var target = event.detail && event.detail.ctx && event.detail.ctx.target;
    if (!target || !target.closest) return;
    var list = target.closest("[role=listbox]") || (target.querySelector && target.querySelector("[role=listbox]"));
    if (!list) return;
    var input = document.querySelector('input[data-combobox][aria-controls="' + CSS.escape(list.id) + '"]');
    if (!input) return;
    var parts = comboParts(input);
    setActive(parts, null);
    setExpanded(parts, options(parts).length > 0);
  });

  // A refused form answered out of band (app.web.form_errors: 4xx with HX-Reswap: none, so the
  // inputs keep what was typed): each error slot [data-error-for=ID] of the form marks its
  // input (aria-invalid, and the slot in aria-describedby) or unmarks it when empty, and focus
  // goes to the input the summary names in data-first-error (read once, then removed).
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

  // ---------------------------------------------------------------------------------------
  // Generate fills a strong random password and shows it (the meter asks the server).
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

  // ---------------------------------------------------------------------------------------
  // Live updates (app/live, the hx-sse extension). A page's stream is an element
  // [hx-sse:connect][data-live-regions="ID ..."]; the server says only "roster:changed" and the
  // kinds of change, and each region named that shows such a change is fetched again from its
  // own data-live-src (its current search and page; data-live-select: the part of a page to
  // take), with this browser's session. A region is left alone while the person is in the middle of
  // something: a dialog open, a menu open in it, a field in it focused, a request under way.
  // It is refreshed as soon as that is over. After a reconnect (the stream dropped, the tab was
  // in the background, a server restarted) the regions are fetched again: nothing said while
  // the stream was down is missed. A stream the server turns away (204: the session ended, the
  // permission went) stops, and the regions are fetched once more so the page shows why.
  var LIVE_RETRY_MS = 700;
  var liveWaiting = {};
  function liveBusy(region) {
    if (document.querySelector("dialog[open]")) return true;
    if (region.querySelector("details[open]")) return true;
    if (document.querySelector(".htmx-request:not([hx-sse\\:connect])")) return true;
    var active = document.activeElement;
    return !!active && region.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }
  function liveRefresh(id) {
    var region = document.getElementById(id);
    if (!region || !region.hasAttribute("data-live-src")) return;
    if (liveWaiting[id]) return;  // one refresh at a time; later news is folded into it
    if (liveBusy(region)) {
      liveWaiting[id] = setTimeout(function () { delete liveWaiting[id]; liveRefresh(id); }, LIVE_RETRY_MS);
      return;
    }
    liveWaiting[id] = true;
    var options = { source: region, target: region, swap: "outerHTML" };
    if (region.hasAttribute("data-live-select")) options.select = region.getAttribute("data-live-select");
    htmx.ajax("GET", region.getAttribute("data-live-src"), options)
      .catch(function () { /* said by the failure model, or the page went */ })
      .then(function () { delete liveWaiting[id]; });
  }
  function liveRegions(stream) {
    return (stream.getAttribute("data-live-regions") || "").split(/\s+/).filter(Boolean);
  }
  // The event's data: the kinds of change ("people invites", "all"); a region re-fetches when
  // one of its data-live-kinds is among them (a region without kinds: on any change).
  function concerns(id, kinds) {
    var region = document.getElementById(id);
    var own = region && region.getAttribute("data-live-kinds");
    return !own || kinds.indexOf("all") >= 0 ||
      own.split(/\s+/).some(function (kind) { return kinds.indexOf(kind) >= 0; });
  }
  document.addEventListener("roster:changed", function (event) {
    if (!event.target.hasAttribute || !event.target.hasAttribute("data-live-regions")) return;
    var kinds = String((event.detail && event.detail.data) || "all").split(/\s+/);
    liveRegions(event.target).filter(function (id) { return concerns(id, kinds); }).forEach(liveRefresh);
  });
  document.addEventListener("htmx:sse:error", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-live-regions")) {
      event.target.setAttribute("data-state", "reconnecting");
    }
  });
  document.addEventListener("htmx:sse:after:connection", function (event) {
    var stream = event.target;
    var connection = event.detail.connection;
    if (!stream.hasAttribute("data-live-regions") || !connection) return;
    stream.removeAttribute("data-state");
    if (connection.status === 204) {
      var regions = liveRegions(stream);
      stream.remove();
      regions.forEach(liveRefresh);
    } else if (connection.attempt > 0) {
      liveRegions(stream).forEach(liveRefresh);
    }
  });

  function init() { armRenderedMessages(); restoreKeptForm(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  document.addEventListener("htmx:after:swap", function (event) {
    if (event.detail && event.detail.ctx && event.detail.ctx.target === document.body) init();
  });
})();
