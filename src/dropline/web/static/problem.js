// The buyer's problem-report form: checks the photos before they are sent (type, size,
// how many) and says when the chosen reason needs one. The server checks the same.
(function () {
  "use strict";
  var form = document.getElementById("problem-form");
  if (!form) return;
  var input = document.getElementById("photos");
  var reason = document.getElementById("reason");
  var out = document.getElementById("photo-check");
  var max = parseInt(form.getAttribute("data-max-photos"), 10);
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var types = form.getAttribute("data-types").split(",");

  function problem() {
    var files = input.files || [];
    if (files.length > max) return "At most " + max + " photos.";
    for (var i = 0; i < files.length; i++) {
      if (types.indexOf(files[i].type) < 0) return files[i].name + " is not a JPEG, PNG or WebP photo.";
      if (files[i].size > maxBytes) return files[i].name + " is larger than " + Math.floor(maxBytes / 1048576) + " MiB.";
    }
    var opt = reason.options[reason.selectedIndex];
    if (opt && opt.getAttribute("data-photos") === "required" && files.length === 0) {
      return "This reason needs at least one photo.";
    }
    return "";
  }

  function show() {
    var text = problem();
    out.textContent = text;
    input.setCustomValidity(text);
  }

  input.addEventListener("change", show);
  reason.addEventListener("change", show);
  form.addEventListener("submit", function (ev) {
    show();
    if (out.textContent) ev.preventDefault();
  });
})();
