// Shared by every /ui page: a form with data-confirm asks before it is sent.
// No inline script anywhere: the pages' Content-Security-Policy forbids it.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
})();
