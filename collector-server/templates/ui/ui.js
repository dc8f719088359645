// Attest dashboard: confirmation of destructive actions, an export job's progress
// updated in place, and a page whose evaluation is under way loaded again. Every page
// works without it (those pages then reload themselves).
"use strict";
document.addEventListener("submit", function (ev) {
  var ask = ev.target.getAttribute("data-confirm");
  if (ask && !window.confirm(ask)) {
    ev.preventDefault();
  }
});

// A running export job: its page fetched again every 2 s and the status region's
// contents replaced (announced politely), until the job is done or failed.
(function () {
  var job = document.getElementById("job");
  if (!job || !job.hasAttribute("data-running")) {
    return;
  }
  var poll = function () {
    window.fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 404) {
          window.location.reload(); // the job went: the page says so
        }
        if (!r.ok) {
          throw new Error(String(r.status));
        }
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("job");
        if (!fresh) {
          window.location.reload();
          return;
        }
        job.innerHTML = fresh.innerHTML;
        if (fresh.hasAttribute("data-running")) {
          window.setTimeout(poll, 2000);
        } else {
          job.removeAttribute("data-running");
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  };
  window.setTimeout(poll, 2000);
})();

// A page whose evaluation is still under way: loaded again every second until the
// collector shows it.
if (document.querySelector("[data-evaluating]")) {
  window.setTimeout(function () { window.location.reload(); }, 1000);
}
