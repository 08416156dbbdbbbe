// shadowgap dashboard: alert buttons (calling the JSON API with the page's CSRF token) and
// chart hover read-outs.
// The pages work without it; nothing here loads anything from the network but our own API.
(function () {
  "use strict";

  // The page's CSRF token (server-rendered): state changes must echo it.
  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  function alertButtons() {
    var error = document.getElementById("action-error");
    document.querySelectorAll("button[data-url]").forEach(function (button) {
      button.addEventListener("click", function () {
        button.disabled = true;
        fetch(button.getAttribute("data-url"), {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
        })
          .then(function (response) {
            if (!response.ok) {
              return response.json().then(
                function (body) { throw new Error(body.error || response.statusText); },
                function () { throw new Error(response.statusText); }
              );
            }
            window.location.reload();
          })
          .catch(function (err) {
            button.disabled = false;
            if (error) {
              error.hidden = false;
              error.textContent = "Could not " + button.getAttribute("data-action") +
                " the alert: " + err.message;
            }
          });
      });
    });
  }

  // Hovering a chart shows the nearest point's value in a corner read-out.
  function chartReadouts() {
    document.querySelectorAll(".chart-card").forEach(function (card) {
      var svg = card.querySelector("svg.chart");
      if (!svg) { return; }
      var points = Array.prototype.slice.call(svg.querySelectorAll("circle.pt"));
      if (points.length === 0) { return; }
      var readout = document.createElement("div");
      readout.className = "readout";
      readout.hidden = true;
      card.appendChild(readout);
      svg.addEventListener("mousemove", function (event) {
        var box = svg.getBoundingClientRect();
        var x = (event.clientX - box.left) * (svg.viewBox.baseVal.width / box.width);
        var best = null;
        var bestDistance = Infinity;
        points.forEach(function (point) {
          var d = Math.abs(point.cx.baseVal.value - x);
          if (d < bestDistance) { bestDistance = d; best = point; }
        });
        var title = best && best.querySelector("title");
        if (title) {
          readout.hidden = false;
          readout.textContent = title.textContent;
        }
      });
      svg.addEventListener("mouseleave", function () { readout.hidden = true; });
    });
  }

  // Selects that apply on change (no inline handlers: the CSP allows no inline script).
  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function start() {
    autoSubmit();
    alertButtons();
    chartReadouts();
    document.documentElement.setAttribute("data-dashboard-ready", "1");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
