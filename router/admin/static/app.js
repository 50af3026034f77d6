// plugpay-router dashboard: live figures and lists by a 5 s poll of /ui/live.json. No framework, no build step.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var body = document.body;
  var url = body.getAttribute("data-live-url");
  var last = null;

  function busy() {
    // Never swap the page under someone selecting rows, typing a filter or reading an opened error or request.
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT")) return true;
    return document.querySelector("input[name=ids]:checked, details[open]") !== null;
  }

  function setFigures(data) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var key = el.getAttribute("data-live");
      if (!(key in data)) return;
      var value = data[key];
      el.textContent = key === "dead" && el.classList.contains("badge") && !value ? "" : String(value);
    });
  }

  function refreshRegion() {
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || busy()) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-region]");
        var region = document.querySelector("[data-live-region]");
        if (fresh && region) region.replaceWith(fresh);
      })
      .catch(function () {});
  }

  function poll() {
    if (!url || document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        var state = document.querySelector("[data-live-state]");
        if (!data) { if (state) state.textContent = "offline"; return; }
        if (state) state.textContent = "live";
        setFigures(data);
        var stamp = [data.latest_event, data.pending_events, data.pending_deliveries, data.dead].join(":");
        if (last !== null && stamp !== last && !busy()) refreshRegion();
        last = stamp;
      })
      .catch(function () {
        var state = document.querySelector("[data-live-state]");
        if (state) state.textContent = "offline";
      });
  }

  document.addEventListener("change", function (e) {
    var target = e.target;
    if (target && target.hasAttribute && target.hasAttribute("data-select-all")) {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = target.checked; });
    }
  });

  poll();
  setInterval(poll, POLL_MS);
})();
