// ops-gen browser beacon: reports console.error, uncaught errors and
// unhandled promise rejections to ops-gen serve, so a helper sees what the
// user's browser saw. Include it with the ops-gen URL and a token of role
// `beacon` (that token can only post browser errors):
//
//   <script src="https://ops.example.com/api/ops/beacon.js"
//           data-token="…" data-build="%BUILD_HASH%" defer></script>
//
// Optional: window.opsGenWsState = () => "open" | "closed" | … reports the
// state of the app's WebSocket with each error. At most 20 reports a minute
// leave one page; nothing is sent when the tab is being closed twice.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !navigator.sendBeacon) return;
  var endpoint = new URL("frontend-log", script.src);
  endpoint.searchParams.set("token", script.getAttribute("data-token") || "");
  var build = script.getAttribute("data-build") || "";
  var sent = [];

  function text(value, max) {
    var s;
    try {
      s = value instanceof Error ? value.message : typeof value === "string" ? value : JSON.stringify(value);
    } catch (e) {
      s = String(value);
    }
    s = s === undefined ? String(value) : s;
    return s.length > max ? s.slice(0, max) : s;
  }

  function report(message, stack) {
    var now = Date.now();
    sent = sent.filter(function (t) { return now - t < 60000; });
    if (sent.length >= 20) return;
    sent.push(now);
    var ws = "";
    try { ws = typeof window.opsGenWsState === "function" ? String(window.opsGenWsState()) : ""; } catch (e) { ws = "unknown"; }
    var body = JSON.stringify({
      build_hash: build,
      route: location.pathname,
      message: text(message, 4000) || "(empty)",
      stack: text(stack || "", 16000),
      browser: navigator.userAgent,
      ws_state: ws
    });
    // text/plain keeps it a simple request: no CORS preflight.
    navigator.sendBeacon(endpoint.toString(), new Blob([body], { type: "text/plain;charset=UTF-8" }));
  }

  var original = console.error;
  console.error = function () {
    var parts = Array.prototype.map.call(arguments, function (a) { return text(a, 2000); });
    var error = Array.prototype.find.call(arguments, function (a) { return a instanceof Error; });
    report(parts.join(" "), error && error.stack);
    return original.apply(console, arguments);
  };
  window.addEventListener("error", function (event) {
    report(event.message || "error", event.error && event.error.stack);
  });
  window.addEventListener("unhandledrejection", function (event) {
    var reason = event.reason;
    report("unhandled rejection: " + text(reason, 4000), reason && reason.stack);
  });
})();
