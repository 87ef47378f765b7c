/* Customer_Flow dashboard: draws the report's charts with the vendored Chart.js from the JSON
   data block the page carries (#report-charts). No inline script, no eval: the CSP holds.
   Without JavaScript the page still shows every number in its tables. */
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#2e8540", "#b3261e", "#8a5a00", "#6f42c1"];

  function draw() {
    var block = document.getElementById("report-charts");
    if (!block || typeof window.Chart === "undefined") { return; }
    var charts = JSON.parse(block.textContent);
    charts.forEach(function (spec) {
      var canvas = document.getElementById(spec.id);
      if (!canvas || !spec.labels.length) { return; }
      var datasets = spec.series.map(function (s, i) {
        return {
          label: s.label,
          data: s.values,
          borderColor: COLOURS[i % COLOURS.length],
          backgroundColor: COLOURS[i % COLOURS.length],
          tension: 0,
          spanGaps: true
        };
      });
      canvas.__chart = new window.Chart(canvas, {
        type: spec.kind,
        data: { labels: spec.labels, datasets: datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { position: "bottom" },
            title: { display: false },
            tooltip: {
              callbacks: {
                label: function (ctx) {
                  var v = ctx.parsed.y;
                  return ctx.dataset.label + ": " + (v === null ? "—" : v) +
                    (spec.unit === "%" ? " %" : " " + spec.unit);
                }
              }
            }
          },
          scales: {
            x: { title: { display: true, text: spec.xlabel } },
            y: { beginAtZero: true, title: { display: true, text: spec.unit } }
          }
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
