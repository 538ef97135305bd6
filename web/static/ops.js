/* The ops pages: refresh the runs' progress every few seconds (the pages work without it).
   Overview: the runs table (#ops-runs, data-url). A run's page: its summary (#run-summary, data-progress-url). */
(function () {
  "use strict";

  function labelsOf(element) {
    try { return JSON.parse(element.dataset.labels || "{}"); } catch (e) { return {}; }
  }

  function setStatus(cell, status, labels) {
    var badge = cell && cell.querySelector(".status");
    if (cell && cell.classList.contains("status")) { badge = cell; }
    if (!badge) { return; }
    badge.className = "status status--" + status;
    badge.textContent = labels[status] || status;
  }

  function setCount(cell, done, total) {
    if (!cell) { return; }
    cell.textContent = cell.textContent.replace(/^\d+/, String(done)).replace(/\d+$/, String(total));
  }

  function poll(url, apply) {
    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (data) {
          var running = apply(data);
          if (running !== null) { setTimeout(refresh, running ? 3000 : 15000); }
        })
        .catch(function () { setTimeout(refresh, 15000); });
    }
    setTimeout(refresh, 3000);
  }

  var section = document.getElementById("ops-runs");
  var body = document.getElementById("ops-runs-body");
  if (section && body) {
    var labels = labelsOf(section);
    poll(section.dataset.url, function (data) {
      var missing = false;
      data.runs.forEach(function (run) {
        var row = body.querySelector('tr[data-run="' + run.id + '"]');
        if (!row) { missing = true; return; }
        row.className = "run run--" + run.status;
        function field(name) { return row.querySelector('[data-field="' + name + '"]'); }
        setStatus(field("status"), run.status, labels);
        var bar = field("progress").querySelector("progress");
        if (bar) { bar.value = run.percent; bar.textContent = run.percent + "%"; }
        var percent = field("progress").querySelector(".run__percent");
        if (percent) { percent.textContent = run.percent + "%"; }
        setCount(field("accounts"), run.processed, run.accounts);
        ["failed", "skipped", "no_recipients"].forEach(function (name) {
          field(name).textContent = String(run[name]);
        });
        var sent = field("sent");
        if (sent && sent.firstChild) { sent.firstChild.nodeValue = String(run.sent) + (run.sent_before ? " " : ""); }
      });
      if (missing) { window.location.reload(); return null; }
      return data.runs.some(function (run) { return run.status === "running"; });
    });
  }

  var summary = document.getElementById("run-summary");
  if (summary && summary.dataset.progressUrl) {
    var runLabels = labelsOf(summary);
    poll(summary.dataset.progressUrl, function (run) {
      function field(name) { return summary.querySelector('[data-field="' + name + '"]'); }
      var wasRunning = field("status").classList.contains("status--running");
      setStatus(field("status"), run.status, runLabels);
      field("progress").value = run.percent;
      field("percent").textContent = run.percent + "%";
      setCount(field("accounts"), run.processed, run.accounts);
      setCount(field("sent"), run.sent, run.emails);
      field("failed").textContent = String(run.failed);
      if (wasRunning && run.status !== "running") { window.location.reload(); return null; }
      return run.status === "running";
    });
  }
})();
