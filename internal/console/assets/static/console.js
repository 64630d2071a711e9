// Portcullis console: the only script. Progressive: every page works
// without it. It shows times in the viewer's zone (UTC stays on hover) and
// copies a new key's secret to the clipboard.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) { return; }
    t.title = t.getAttribute("datetime");
    t.textContent = d.toLocaleString();
  });
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-copy"));
      if (!input) { return; }
      input.select();
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {});
      }
    });
  });
});
