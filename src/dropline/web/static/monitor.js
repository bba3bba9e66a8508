// The live monitor: subscribe to the drop's Server-Sent Events and redraw the numbers,
// the clock (elapsed time, or a countdown before the start), the per-minute velocity
// chart, the projected sell-out times and the bundles' availability. The page of an
// ended drop shows final numbers and only watches the stream for the drop going live
// again (a restock wave reopens it): it then reloads as the live monitor, as a live
// page reloads when its drop ends.
// Plain DOM code, no framework; text is always set with textContent (never innerHTML).
(function () {
  "use strict";
  var script = document.currentScript;
  var url = script && script.getAttribute("data-events");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  function $(id) { return document.getElementById(id); }
  function set(id, value) { var el = $(id); if (el) el.textContent = value; }
  function pct(v) { return v === null || v === undefined ? "—" : v.toFixed(1) + " %"; }
  function duration(s) {
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (h) return h + " h " + two(m) + " min";
    return m + " min " + two(sec) + " s";
  }

  // ---------------------------------------------------------------- the clock
  var clock = $("clock");
  var phase = clock ? clock.getAttribute("data-phase") : "";
  var seconds = clock && clock.getAttribute("data-seconds") !== "" ? Number(clock.getAttribute("data-seconds")) : null;
  var base = Date.now();
  function tick() {
    if (seconds === null || phase === "ended") return;
    var passed = (Date.now() - base) / 1000;
    if (phase === "before") {
      var left = seconds - passed;
      set("clock-text", left > 0 ? "Starts in " + duration(left) : "Start time reached: go live when ready");
    } else {
      set("clock-text", (phase === "paused" ? "Paused — live for " : "Live for ") + duration(seconds + passed));
    }
  }
  setInterval(tick, 1000);

  // ---------------------------------------------------------------- the chart
  // Drawn on the server (GET .../monitor/velocity.svg), which redraws a drop's chart at
  // most every 5 s and may serve one up to 5 s old: so a change of the stream's minute
  // buckets is fetched 5.5 s after it happened (by then any copy the server serves shows
  // it), at most one fetch every 5 s. The SVG is swapped in as a parsed node (no
  // innerHTML, no inline script).
  var CHART_EVERY_MS = 5000, SERVER_AGE_MS = 5500;
  var chartBox = $("velocity-box");
  var chartSrc = chartBox ? chartBox.getAttribute("data-src") : null;
  var chartKey = null, chartAt = 0, chartTimer = null, chartN = 0, changes = [];
  try { chartKey = JSON.stringify(JSON.parse(chartBox.getAttribute("data-points"))); } catch (e) { /* fetch on the first snapshot */ }
  function scheduleChart() {
    if (chartTimer !== null || !changes.length) return;
    var due = Math.max(chartAt + CHART_EVERY_MS, changes[0] + SERVER_AGE_MS);
    chartTimer = setTimeout(fetchChart, Math.max(0, due - Date.now()));
  }
  function fetchChart() {
    chartTimer = null; chartAt = Date.now(); chartN += 1;
    var covered = chartAt - SERVER_AGE_MS;
    changes = changes.filter(function (t) { return t > covered; });
    scheduleChart(); // changes too recent for this fetch get the next one
    fetch(chartSrc + "?v=" + chartN, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, "image/svg+xml");
        var svg = doc.documentElement;
        if (!svg || svg.localName !== "svg" || doc.getElementsByTagName("parsererror").length) return;
        var old = $("velocity-chart"), fresh = document.importNode(svg, true);
        if (old) old.replaceWith(fresh); else chartBox.appendChild(fresh);
      })
      .catch(function () { /* keep the chart shown; the next change tries again */ });
  }
  function updateChart(points) {
    if (!chartSrc || !points) return;
    var key = JSON.stringify(points);
    if (key === chartKey) return;
    chartKey = key;
    changes.push(Date.now());
    scheduleChart();
  }

  // ---------------------------------------------------------------- the numbers
  function list(id, items, empty) {
    var ul = $(id); if (!ul) return;
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    if (!items.length) { var li = document.createElement("li"); li.className = "muted"; li.textContent = empty; ul.appendChild(li); return; }
    items.forEach(function (it) {
      var li = document.createElement("li");
      if (typeof it === "string") { li.textContent = it; } else { li.textContent = it.message; li.className = "alert " + it.level; }
      ul.appendChild(li);
    });
  }

  function toggleForm(dropId, row) {
    var form = document.createElement("form");
    form.method = "post"; form.className = "inline";
    form.action = "/ui/drops/" + dropId + "/skus/" + row.sku_id + "/" + (row.paused ? "resume" : "pause");
    var input = document.createElement("input");
    input.type = "hidden"; input.name = "csrf_token"; input.value = csrf;
    var button = document.createElement("button");
    button.type = "submit"; button.className = "sku-toggle"; button.setAttribute("data-sku", row.sku_id);
    button.textContent = row.paused ? "Resume" : "Pause";
    form.appendChild(input); form.appendChild(button);
    return form;
  }

  function renderRow(tr, dropId, r) {
    tr.className = "state-" + r.state + (r.paused ? " paused" : "");
    ["offered", "sold", "held", "remaining", "velocity_1m", "velocity_5m"].forEach(function (f) {
      var el = tr.querySelector('[data-f="' + f + '"]'); if (el) el.textContent = r[f];
    });
    var st = tr.querySelector('[data-f="sell_through_pct"]'); if (st) st.textContent = pct(r.sell_through_pct);
    var eta = tr.querySelector('[data-f="eta"]');
    if (eta) eta.textContent = r.state_text ? r.state_text : (r.sellout_eta_s === null ? "—" : "in " + duration(r.sellout_eta_s));
    var sold = tr.querySelector(".bar .sold"), held = tr.querySelector(".bar .held");
    if (sold) sold.style.width = (r.offered ? 100 * r.sold / r.offered : 0) + "%";
    if (held) held.style.width = (r.offered ? 100 * r.held / r.offered : 0) + "%";
    var badge = tr.querySelector(".paused-badge"); if (badge) badge.hidden = !r.paused;
    var btn = tr.querySelector("button.sku-toggle");
    if (btn && btn.textContent !== (r.paused ? "Resume" : "Pause")) {
      var cell = btn.closest("td"); cell.replaceChild(toggleForm(dropId, r), btn.closest("form"));
    }
  }

  function duration(n) {
    var h = Math.floor(n / 3600), m = Math.floor((n % 3600) / 60), sec = n % 60;
    return h ? h + " h " + String(m).padStart(2, "0") + " min" : m + " min " + String(sec).padStart(2, "0") + " s";
  }

  function schedule(d) {
    var cd = $("countdown"), box = $("schedule");
    if (box) box.hidden = !d.starts_at && !d.ends_at;
    if (cd) cd.hidden = d.starts_in_s === null || d.starts_in_s === undefined;
    if (d.starts_in_s !== null && d.starts_in_s !== undefined) set("starts-in", duration(d.starts_in_s));
    set("starts-at", d.starts_at || "—"); set("ends-at", d.ends_at || "—");
  }

  function windowName(w) { return w.name || "window " + (w.index + 1); }

  function accessWindow(a) {
    var card = $("window-card"), line = $("w-next-line");
    if (!card) return;
    card.hidden = !a.current_window && !a.next_window;
    set("w-current", a.current_window ? windowName(a.current_window) : "not open yet");
    if (line) line.hidden = !a.next_window;
    if (a.next_window) {
      set("w-next", windowName(a.next_window));
      set("w-next-at", a.next_window_at.slice(0, 16).replace("T", " ") + " UTC");
      var left = Math.max(0, Math.round((Date.parse(a.next_window_at) - Date.now()) / 1000));
      set("w-next-in", "in " + duration(left));
    }
  }

  function render(s) {
    if (s.drop.status === "ended") { source.close(); window.location.reload(); return; }
    set("drop-status", s.drop.status); var ds = $("drop-status"); if (ds) ds.className = "status status-" + s.drop.status;
    if (s.timing.phase !== phase || (s.timing.seconds !== null && Math.abs(seconds + (Date.now() - base) / 1000 - s.timing.seconds) > 2)) {
      phase = s.timing.phase; seconds = s.timing.seconds; base = Date.now(); tick();
    }
    set("updated-at", s.at.slice(11, 19) + " UTC");
    set("t-revenue", s.totals.revenue_text);
    set("t-sold", s.totals.sold); set("t-offered", s.totals.offered); set("t-st", pct(s.totals.sell_through_pct));
    set("t-held", s.totals.held); set("h-active", s.holds.active);
    set("t-v1", s.totals.velocity_1m); set("t-v5", s.totals.velocity_5m);
    set("h-expired", s.holds.expired); set("h-abandon", pct(s.holds.abandonment_pct));
    set("p-failed", s.payments.failed); set("p-recent", s.payments.failed_last_minute);
    if (s.sla_risk !== null && s.sla_risk !== undefined) set("sla", s.sla_risk);
    if (s.access) {
      var r = s.access.refusals, n = function (k) { return r[k] || 0; };
      set("a-refused", Object.keys(r).reduce(function (t, k) { return t + r[k]; }, 0));
      set("a-window", n("window_closed")); set("a-wsold", n("window_sold_out"));
      set("a-rate", n("rate_limited")); set("a-old", n("token_too_old"));
      accessWindow(s.access);
    }
    list("cues", s.cues, "Nothing to call out.");
    list("alerts", s.alerts, "No alerts.");
    updateChart(s.velocity.points);
    s.skus.forEach(function (r) {
      var tr = document.querySelector('#sku-rows tr[data-sku="' + r.sku_id + '"]');
      if (tr) renderRow(tr, s.drop.id, r);
    });
    (s.bundles || []).forEach(function (b) {
      var el = document.querySelector('#bundle-table tr[data-bundle="' + b.bundle_id + '"] [data-f="available"]');
      if (el) el.textContent = b.available;
    });
    document.body.setAttribute("data-sold", String(s.totals.sold));
    document.body.setAttribute("data-held", String(s.totals.held));
  }

  var watch = script && script.getAttribute("data-watch");
  if (!url) {
    // an ended drop: final numbers, nothing to redraw; reload once it is live again
    if (!watch || !window.EventSource) return;
    var watcher = new EventSource(watch);
    watcher.addEventListener("snapshot", function (ev) {
      if (JSON.parse(ev.data).drop.status === "ended") return;
      watcher.close(); window.location.reload();
    });
    return;
  }
  if (!window.EventSource) { set("live-state", "not supported"); return; }
  var source = new EventSource(url);
  source.addEventListener("open", function () { set("live-state", "connected"); });
  source.addEventListener("error", function () { set("live-state", "reconnecting…"); });
  source.addEventListener("snapshot", function (ev) {
    set("live-state", "connected");
    render(JSON.parse(ev.data));
  });
})();
