// The live monitor: subscribe to the drop's Server-Sent Events and redraw the numbers.
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

  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  function list(id, items, empty, cls) {
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

  function render(s) {
    set("drop-status", s.drop.status); var ds = $("drop-status"); if (ds) ds.className = "status status-" + s.drop.status;
    schedule(s.drop);
    set("updated-at", s.at);
    set("t-sold", s.totals.sold); set("t-offered", s.totals.offered); set("t-st", pct(s.totals.sell_through_pct));
    set("t-held", s.totals.held); set("h-active", s.holds.active);
    set("t-v1", s.totals.velocity_1m); set("t-v5", s.totals.velocity_5m);
    set("h-expired", s.holds.expired); set("h-abandon", pct(s.holds.abandonment_pct));
    set("p-failed", s.payments.failed); set("p-recent", s.payments.failed_last_minute);
    if (s.sla_risk !== null && s.sla_risk !== undefined) set("sla", s.sla_risk);
    list("cues", s.cues, "Nothing to call out.");
    list("alerts", s.alerts, "No alerts.");
    s.skus.forEach(function (r) {
      var tr = document.querySelector('#sku-rows tr[data-sku="' + r.sku_id + '"]');
      if (tr) renderRow(tr, s.drop.id, r);
    });
    document.body.setAttribute("data-sold", String(s.totals.sold));
    document.body.setAttribute("data-held", String(s.totals.held));
  }

  if (!url || !window.EventSource) { set("live-state", "not supported"); return; }
  var source = new EventSource(url);
  source.addEventListener("open", function () { set("live-state", "connected"); });
  source.addEventListener("error", function () { set("live-state", "reconnecting…"); });
  source.addEventListener("snapshot", function (ev) {
    set("live-state", "connected");
    render(JSON.parse(ev.data));
  });
})();
