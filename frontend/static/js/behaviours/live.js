// Live updates (app/http/live, the hx-sse extension). A page's stream is an element
// [hx-sse:connect][data-live-regions="ID ..."]; the server says only "roster:changed" and the
// kinds of change, and each region named that shows such a change is fetched again from its
// own data-live-src (its current search and page; data-live-select: the part of a page to
// take), with this browser's session. A region is left alone while the person is in the middle
// of something: a dialog open, a menu open in it, a field in it focused, a request under way.
// It is refreshed as soon as that is over, and so is a refresh under way when it began. After a reconnect (the stream dropped, the tab was in
// the background, a server restarted) the regions are fetched again: nothing said while the
// stream was down is missed, and "could not be reached" goes (failures.js). A stream the server
// turns away (204: the session ended, the permission went) stops, and the regions are fetched
// once more so the page shows why.
(function (R) {
  "use strict";
  var RETRY_MS = 700;
  var waiting = {};
  function busy(region) {
    if (document.querySelector("dialog[open]")) return true;
    if (region.querySelector("details[open]")) return true;
    var requests = document.querySelectorAll(".htmx-request:not([hx-sse\\:connect])");
    for (var i = 0; i < requests.length; i++) if (waiting[requests[i].id] !== true) return true;
    var active = document.activeElement;
    return !!active && region.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }
  function refresh(id) {
    var region = document.getElementById(id);
    if (!region || !region.hasAttribute("data-live-src")) return;
    if (waiting[id]) return;  // one refresh at a time; later news is folded into it
    if (busy(region)) {
      waiting[id] = setTimeout(function () { delete waiting[id]; refresh(id); }, RETRY_MS);
      return;
    }
    waiting[id] = true;
    var options = { source: region, target: region, swap: "outerHTML" };
    if (region.hasAttribute("data-live-select")) options.select = region.getAttribute("data-live-select");
    htmx.ajax("GET", region.getAttribute("data-live-src"), options)
      .catch(function () { /* said by the failure model, or the page went */ })
      .then(function () { delete waiting[id]; });
  }
  // A refresh sent before the person began something (a click, a dialog) is not swapped in
  // under it: it is asked again once that is over.
  document.addEventListener("htmx:before:swap", function (event) {
    var id = event.target.id;
    if (waiting[id] === true && busy(event.target)) {
      event.preventDefault();
      setTimeout(refresh, RETRY_MS, id);
    }
  });
  // The event's data: the kinds of change ("people invites", "all"); a region re-fetches when
  // one of its data-live-kinds is among them (a region without kinds: on any change).
  function concerns(id, kinds) {
    var region = document.getElementById(id);
    var own = region && region.getAttribute("data-live-kinds");
    return !own || kinds.indexOf("all") >= 0 ||
      own.split(/\s+/).some(function (kind) { return kinds.indexOf(kind) >= 0; });
  }
  R.on("[data-live-regions]", function (stream) {
    var regions = (stream.getAttribute("data-live-regions") || "").split(/\s+/).filter(Boolean);
    stream.addEventListener("roster:changed", function (event) {
      var kinds = String((event.detail && event.detail.data) || "all").split(/\s+/);
      regions.filter(function (id) { return concerns(id, kinds); }).forEach(refresh);
    });
    stream.addEventListener("htmx:sse:error", function () {
      stream.setAttribute("data-state", "reconnecting");
    });
    stream.addEventListener("htmx:sse:after:connection", function (event) {
      var connection = event.detail.connection;
      if (!connection) return;
      stream.removeAttribute("data-state");
      if (connection.status === 204) {
        stream.remove();
        regions.forEach(refresh);
      } else {
        R.reached();
        if (connection.attempt > 0) regions.forEach(refresh);
      }
    });
  });
})(Roster);
