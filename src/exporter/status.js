// The status page's live updates and admin buttons. The token typed into the
// form is kept in sessionStorage (this tab only) and sent nowhere but in the
// Authorization header of this server's /api/ops/ calls.
(function () {
  "use strict";
  var KEY = "ops-gen-token";
  var role = null;
  var streaming = false;
  var stream = null;
  var refreshing = false;
  var again = false;

  function $(id) { return document.getElementById(id); }
  function token() { try { return sessionStorage.getItem(KEY); } catch (e) { return null; } }

  function say(text, ok) {
    var out = $("outcome");
    out.textContent = text;
    out.className = ok === undefined ? "" : ok ? "ok" : "fail";
  }

  function api(method, path, value) {
    return fetch("/api/ops/" + path, {
      method: method,
      headers: { "Authorization": "Bearer " + (value || token()) },
      cache: "no-store",
      credentials: "omit"
    });
  }

  function errorOf(response) {
    return response.json().then(
      function (body) { return (body && body.error) || "HTTP " + response.status; },
      function () { return "HTTP " + response.status; }
    );
  }

  // Fetches the page again and swaps its live part: one renderer, the server's.
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch("/", { cache: "no-store", credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var live = $("live");
        if (fresh && live) live.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () { /* the next event or tick tries again */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  function mode(text) { $("mode").textContent = text; }

  // The events stream through fetch (EventSource cannot send a header).
  function listen() {
    if (stream) stream.abort();
    streaming = false;
    var value = token();
    if (!value || !window.AbortController || !window.TextDecoder) { mode("updates every 10 s"); return; }
    var controller = new AbortController();
    stream = controller;
    fetch("/api/ops/events", {
      headers: { "Authorization": "Bearer " + value, "Accept": "text/event-stream" },
      cache: "no-store",
      credentials: "omit",
      signal: controller.signal
    }).then(function (response) {
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      streaming = true;
      mode("live updates");
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error("stream ended");
          buffer += decoder.decode(chunk.value, { stream: true });
          var blocks = buffer.split(/\r?\n\r?\n/);
          buffer = blocks.pop();
          blocks.forEach(function (block) {
            var name = "message";
            block.split(/\r?\n/).forEach(function (line) {
              if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            });
            if (name !== "frontend" && name !== "message") refresh();
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (stream !== controller) return;
      streaming = false;
      mode("updates every 10 s (events stream unavailable; retrying)");
      setTimeout(function () { if (stream === controller) listen(); }, 10000);
    });
  }

  function signedIn(who) {
    role = who.role;
    document.body.classList.toggle("is-admin", role === "admin");
    $("who").textContent = "Token: " + who.name + " (" + who.role + ")";
    $("who").hidden = false;
    $("forget").hidden = false;
    $("login").hidden = true;
  }

  function forget(message) {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
    role = null;
    document.body.classList.remove("is-admin");
    $("who").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    if (stream) stream.abort();
    stream = null;
    listen();
    if (message) say(message, false);
  }

  function check(value) {
    return api("GET", "whoami", value).then(function (response) {
      if (response.ok) return response.json();
      if (response.status === 403) throw new Error("this token may not read the ops API (a beacon token?)");
      if (response.status === 401) return errorOf(response).then(function (m) { throw new Error("token not accepted: " + m); });
      throw new Error("cannot check the token: HTTP " + response.status);
    });
  }

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("token");
    var value = input.value.trim();
    input.value = "";
    if (!value) return;
    check(value).then(function (who) {
      try { sessionStorage.setItem(KEY, value); } catch (e) { /* storage off: this page only */ }
      signedIn(who);
      say("Token accepted: " + who.name + " (" + who.role + ").", true);
      listen();
    }, function (error) { say(error.message, false); });
  });

  $("forget").addEventListener("click", function () { forget(); say("Token forgotten.", true); });

  function describe(action, service, body) {
    if (action === "job") return "Job " + service + " started; its result shows here when it ends.";
    if (action === "restart") {
      return "Restarted " + (body && body.restarted !== undefined ? body.restarted + " container(s) of " : "") + service + ".";
    }
    var where = body && (body.path || body.file || body.archive);
    return "Bundle captured" + (where ? ": " + where : "") + ".";
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-action]") : null;
    if (!button || role !== "admin") return;
    var action = button.getAttribute("data-action");
    var service = button.getAttribute("data-service") || button.getAttribute("data-job") || "";
    var label = action === "restart" ? "Restart " + service : action === "job" ? "Run " + service : "Capture bundle";
    var path = action === "restart" ? "actions/restart/" + encodeURIComponent(service)
      : action === "job" ? "jobs/" + encodeURIComponent(service) + "/run" : "actions/bundle";
    button.disabled = true;
    say(label + ": working…");
    api("POST", path).then(function (response) {
      if (response.ok) {
        return response.json().catch(function () { return null; }).then(function (body) {
          say(describe(action, service, body), true);
          refresh();
        });
      }
      if (action === "bundle" && (response.status === 404 || response.status === 405)) {
        say("Capture bundle: not available on this server (its ops-gen has no bundle route yet).", false);
        return null;
      }
      return errorOf(response).then(function (message) { say(label + " failed (" + response.status + "): " + message, false); });
    }).catch(function (error) {
      say(label + " failed: " + error.message, false);
    }).then(function () { button.disabled = false; });
  });

  setInterval(function () { if (!streaming) refresh(); }, 10000);
  if (token()) {
    check(token()).then(function (who) { signedIn(who); listen(); }, function (error) { forget(error.message); });
  }
})();
