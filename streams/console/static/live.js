// Live updates without reloads, through server-sent events (EventSource is built into browsers).
// <body data-live="/events/health">: every event maps element ids to new text.
// <body data-await="/events/profiles/ID">: the page reloads once the profile arrived.
(function () {
  "use strict";
  var body = document.body;
  var live = body.getAttribute("data-live");
  if (live) {
    var source = new EventSource(live);
    var status = document.getElementById("live-status");
    source.onopen = function () { if (status) { status.textContent = "live"; status.className = "pill ok"; } };
    source.onerror = function () { if (status) { status.textContent = "reconnecting"; status.className = "pill warn"; } };
    source.onmessage = function (event) {
      var cells = JSON.parse(event.data);
      Object.keys(cells).forEach(function (id) {
        var element = document.getElementById(id);
        if (element && element.textContent !== cells[id]) {
          element.textContent = cells[id];
          element.setAttribute("data-value", cells[id]);
          element.classList.remove("changed");
          void element.offsetWidth;
          element.classList.add("changed");
        }
      });
    };
  }
  var awaited = body.getAttribute("data-await");
  if (awaited) {
    var waiting = new EventSource(awaited);
    waiting.onmessage = function (event) {
      waiting.close();
      var message = JSON.parse(event.data);
      if (message.arrived) { window.location.reload(); }
      else { document.getElementById("waiting-note").textContent = "No profile arrived within a minute: are workers running?"; }
    };
  }
})();
