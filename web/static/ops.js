/* The ops page: refresh the runs' progress every few seconds (the page works without it). */
(function () {
  "use strict";
  var section = document.getElementById("ops-runs");
  var body = document.getElementById("ops-runs-body");
  if (!section || !body) { return; }
  var labels = {};
  try { labels = JSON.parse(section.dataset.labels || "{}"); } catch (e) { labels = {}; }

  function update(run) {
    var row = body.querySelector('tr[data-run="' + run.id + '"]');
    if (!row) { return false; }
    var cells = row.cells;
    row.className = "run run--" + run.status;
    var status = cells[5].querySelector(".status");
    if (status) {
      status.className = "status status--" + run.status;
      status.textContent = labels[run.status] || run.status;
    }
    var bar = cells[6].querySelector("progress");
    if (bar) { bar.value = run.percent; bar.textContent = run.percent + "%"; }
    var percent = cells[6].querySelector(".run__percent");
    if (percent) { percent.textContent = run.percent + "%"; }
    cells[7].textContent = cells[7].textContent.replace(/^\d+/, String(run.processed)).replace(/\d+$/, String(run.accounts));
    cells[8].textContent = String(run.rendered);
    cells[9].textContent = String(run.sent);
    cells[10].textContent = String(run.failed);
    cells[11].textContent = String(run.skipped);
    cells[12].textContent = String(run.no_recipients);
    return true;
  }

  function refresh() {
    fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) {
        var missing = false;
        data.runs.forEach(function (run) { if (!update(run)) { missing = true; } });
        if (missing) { window.location.reload(); return; }
        var running = data.runs.some(function (run) { return run.status === "running"; });
        setTimeout(refresh, running ? 3000 : 15000);
      })
      .catch(function () { setTimeout(refresh, 15000); });
  }
  setTimeout(refresh, 3000);
})();
