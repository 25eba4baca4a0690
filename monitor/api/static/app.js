// cleanroom-monitor pages: a little plain JavaScript, no libraries, no build step.
// The pages work without it; it only keeps the overview and alarm list current.
(function () {
  "use strict";

  // Reload pages that ask for it (data-refresh, seconds) unless someone is typing into a
  // form: an operator half-way through an acknowledgement must not lose what they wrote.
  function busy() {
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT" ||
                   active.tagName === "TEXTAREA")) {
      return true;
    }
    var fields = document.querySelectorAll("form input[type=text], form input[type=password]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value) { return true; }
    }
    return false;
  }

  function scheduleRefresh() {
    var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (!seconds) { return; }
    window.setInterval(function () {
      if (!busy()) { window.location.reload(); }
    }, seconds * 1000);
  }

  // Disable a form's button once submitted: one click, one acknowledgement.
  function guardForms() {
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (event) {
        var button = event.target.querySelector("button[type=submit]");
        if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    scheduleRefresh();
    guardForms();
  });
}());
