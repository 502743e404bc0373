// The dashboard refreshes its figures in place, without a full reload: every
// data-refresh-seconds it fetches the page again (same origin, the session's cookie) and
// swaps the contents of #dashboard-live for the fresh ones. A hidden tab does not fetch;
// it refreshes as soon as it is shown again. If a refresh fails (network, a 5xx, or the
// session ended and the log-in page answered), the figures stay and #dashboard-stale says so.
(function () {
  "use strict";
  var live = document.getElementById("dashboard-live");
  var stale = document.getElementById("dashboard-stale");
  if (!live || !window.fetch || !window.DOMParser) {
    return;
  }
  var seconds = Number(live.getAttribute("data-refresh-seconds")) || 30;
  var busy = false;

  function showStale(isStale) {
    if (stale) {
      stale.hidden = !isStale;
    }
  }

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    window.fetch(window.location.href, {credentials: "same-origin", cache: "no-store",
                                        headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("dashboard refresh: HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new window.DOMParser().parseFromString(html, "text/html").getElementById("dashboard-live");
        if (!fresh) {
          throw new Error("dashboard refresh: no #dashboard-live in the answer");
        }
        live.innerHTML = fresh.innerHTML;
        live.setAttribute("data-refreshed", String(Number(live.getAttribute("data-refreshed") || 0) + 1));
        showStale(false);
      })
      .catch(function () {
        showStale(true);
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
}());
