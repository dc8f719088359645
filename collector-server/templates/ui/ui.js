// Attest dashboard: confirmation of destructive actions and a progress line for
// long exports. Every page works without it.
"use strict";
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  var ask = form.getAttribute("data-confirm");
  if (ask && !window.confirm(ask)) {
    ev.preventDefault();
    return;
  }
  var says = form.getAttribute("data-progress");
  if (says) {
    var line = document.querySelector(".progress");
    if (line) {
      var started = Date.now();
      line.textContent = says;
      var timer = window.setInterval(function () {
        var s = Math.round((Date.now() - started) / 1000);
        line.textContent = says + " " + s + " s (the download starts when it is ready)";
      }, 1000);
      window.setTimeout(function () { window.clearInterval(timer); }, 15 * 60 * 1000);
    }
  }
});
