// cleanroom-monitor pages: a little plain JavaScript, no libraries, no build step.
// The pages work without it; it keeps the overview and alarm list current and adds
// tooltips to the trend chart (its numbers come formatted from the server).
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
    if (document.querySelector("svg.hovering")) { return true; }  // reading a tooltip
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

  // Trend chart tooltips: the bucket under the pointer (time, mean, min, max, how many
  // readings were good) and the marked periods there (gap, maintenance, excursion).
  function trendTooltips() {
    var data = document.getElementById("trend-data");
    var svg = document.getElementById("trend-chart");
    var tip = document.getElementById("chart-tip");
    var wrap = document.getElementById("chart-wrap");
    if (!data || !svg || !tip || !wrap) { return; }
    var chart = JSON.parse(data.textContent);
    var buckets = chart.buckets, spans = chart.spans, plot = chart.plot;
    var cross = svg.querySelector(".crosshair"), dot = svg.querySelector(".hover-dot");
    // The tooltip says what the SVG titles say: drop them so that two tips never show at once.
    var titled = svg.querySelectorAll("rect > title, line > title");
    for (var t = 0; t < titled.length; t++) { titled[t].parentNode.removeChild(titled[t]); }

    function nearest(x) {
      var lo = 0, hi = buckets.length - 1;
      if (hi < 0) { return -1; }
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (buckets[mid][0] < x) { lo = mid + 1; } else { hi = mid; }
      }
      if (lo > 0 && x - buckets[lo - 1][0] < buckets[lo][0] - x) { lo -= 1; }
      return lo;
    }

    function reach(i) {  // how far from a bucket the pointer may be and still mean it
      var left = i > 0 ? buckets[i][0] - buckets[i - 1][0] : Infinity;
      var right = i < buckets.length - 1 ? buckets[i + 1][0] - buckets[i][0] : Infinity;
      var local = Math.min(left, right);
      return local === Infinity ? 8 : Math.max(6, local * 0.6);
    }

    function hide() {
      tip.hidden = true;
      svg.classList.remove("hovering");
    }

    function show(clientX, clientY) {
      var box = svg.getBoundingClientRect();
      var scale = box.width / chart.width;
      var x = (clientX - box.left) / scale, y = (clientY - box.top) / scale;
      if (x < plot[0] || x > plot[2] || y < plot[1] || y > plot[3]) { hide(); return; }
      var i = nearest(x);
      var bucket = i >= 0 && Math.abs(buckets[i][0] - x) <= reach(i) ? buckets[i] : null;
      var here = [];
      for (var s = 0; s < spans.length; s++) {
        if (spans[s][0] <= x && x <= spans[s][1]) { here.push(spans[s][3]); }
      }
      if (!bucket && !here.length) { hide(); return; }
      tip.textContent = bucket ? bucket[2] : "";
      for (var h = 0; h < here.length; h++) {
        var line = document.createElement("span");
        line.className = "tip-span";
        line.textContent = here[h];
        tip.appendChild(line);
      }
      var at = bucket ? bucket[0] : x;
      cross.setAttribute("x1", at);
      cross.setAttribute("x2", at);
      if (bucket && bucket[1] !== null) {
        dot.setAttribute("cx", at);
        dot.setAttribute("cy", bucket[1]);
        dot.classList.add("on");
      } else {
        dot.classList.remove("on");
      }
      svg.classList.add("hovering");
      tip.hidden = false;
      var outer = wrap.getBoundingClientRect();
      var left = box.left - outer.left + at * scale + 14;
      if (left + tip.offsetWidth > outer.width) { left -= tip.offsetWidth + 28; }
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = Math.max(0, clientY - outer.top - tip.offsetHeight - 12) + "px";
    }

    svg.addEventListener("mousemove", function (event) { show(event.clientX, event.clientY); });
    svg.addEventListener("mouseleave", hide);
    svg.addEventListener("touchstart", function (event) {
      if (event.touches.length) { show(event.touches[0].clientX, event.touches[0].clientY); }
    }, {passive: true});
  }

  document.addEventListener("DOMContentLoaded", function () {
    scheduleRefresh();
    guardForms();
    trendTooltips();
  });
}());
