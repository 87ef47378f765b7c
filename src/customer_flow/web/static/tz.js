// Customer_Flow: the browser's time zone, posted once while the signed-in user has none, so
// that pages show their times in it. A zone the user chooses (/account/time-zone) is never
// replaced. Without this script times are shown in UTC until one is chosen.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone || window.sessionStorage.getItem("cf-tz-tried")) return;
  window.sessionStorage.setItem("cf-tz-tried", "1");
  var headers = {};
  try { headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { return; }
  var token = headers["X-CSRF-Token"];
  if (!token) return;
  var body = new URLSearchParams({ time_zone: zone, detected: "1", csrf_token: token });
  fetch("/account/time-zone", { method: "POST", body: body, credentials: "same-origin" })
    .then(function (r) { if (r.status === 204 && zone !== "UTC") window.location.reload(); });
})();
