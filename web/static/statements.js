/* Statement pages, progressively enhanced: every feature here also works without this script.
 *
 * - Selector: the customer search box filters the customers as you type; choosing a customer loads its
 *   companies (the server's "Buscar" button does the same without JavaScript).
 * - Statement page: the lines' Search box filters the rows as you type; column headers sort the rows
 *   (the "Ordenar por" form and ?q= do the same on the server).
 * - Statement page: Descargar PDF/XLS start the download; a file still being prepared shows its progress in
 *   place and downloads by itself when ready (without this script, the link opens the preparing page).
 * - Preparing page: polls the file's status, shows the elapsed time and starts the download when ready.
 * - Statement page: "Aclarar" on a line fills in the dispute form's document and moves to the message, without
 *   reloading the page (without this script, the link reloads the page with the document filled in).
 */
(function () {
  "use strict";

  function fold(text) {
    return String(text || "")
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase();
  }

  /* Searching ignores thousands separators, like the server: "104282.12" finds "104,282.12" and the reverse. */
  function ungroup(text) {
    return text.replace(/(\d),(?=\d{3})/g, "$1");
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function option(value, text, selected) {
    var node = document.createElement("option");
    node.value = value;
    node.textContent = text;
    if (selected) { node.selected = true; }
    return node;
  }

  /* --- the selector ------------------------------------------------------------------------------------ */

  /* Only the dates of the chosen kind of statement show: the cut-off, or the period's first and last day. */
  function showKindFields(form) {
    var radios = form.querySelectorAll('input[name="kind"]');
    if (!radios.length) { return; }
    function update() {
      var chosen = form.querySelector('input[name="kind"]:checked');
      var kind = chosen ? chosen.value : "open";
      form.querySelectorAll("[data-kind]").forEach(function (field) {
        field.hidden = field.dataset.kind !== kind;
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", update); });
    update();
  }

  function enhanceSelector(form) {
    showKindFields(form);
    var search = form.querySelector("#q");
    var customer = form.querySelector("#customer");
    var company = form.querySelector("#company");
    var hint = form.querySelector("#customer-hint");
    var companyHint = form.querySelector("#company-hint");
    if (!search || !customer || !company) { return; }

    function loadCompanies() {
      var number = customer.value;
      var previous = company.value;
      var url = form.dataset.companiesUrl + "?customer=" + encodeURIComponent(number);
      if (!number) {
        company.replaceChildren(option("", form.dataset.chooseCompany, true));
        return;
      }
      getJSON(url).then(function (data) {
        var options = [option("", form.dataset.chooseCompany, false)];
        data.companies.forEach(function (c) {
          var only = data.companies.length === 1;
          options.push(option(c.code, c.code + " — " + c.name, only || c.code === previous));
        });
        company.replaceChildren.apply(company, options);
        if (companyHint) { companyHint.hidden = true; }
      }).catch(function () { /* the server-side "Buscar" still works */ });
    }

    var searchCustomers = debounce(function () {
      var previous = customer.value;
      getJSON(form.dataset.customersUrl + "?q=" + encodeURIComponent(search.value)).then(function (data) {
        var options = [option("", form.dataset.chooseCustomer, false)];
        var keep = false;
        data.customers.forEach(function (c) {
          var selected = c.number === previous || data.customers.length === 1;
          keep = keep || selected;
          options.push(option(c.number, c.number + " — " + c.name, selected));
        });
        customer.replaceChildren.apply(customer, options);
        if (hint) { hint.textContent = data.customers.length ? "" : form.dataset.noCustomers; }
        if (customer.value !== previous) { loadCompanies(); }
      }).catch(function () {});
    }, 200);

    search.addEventListener("input", searchCustomers);
    customer.addEventListener("change", loadCompanies);
  }

  /* --- the statement's lines ---------------------------------------------------------------------------- */

  function enhanceLines(tools, table) {
    var input = tools.querySelector("#lines-search");
    var count = tools.querySelector("#lines-count");
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (row) {
      var folded = fold(row.textContent);
      return folded + "\u0000" + ungroup(folded);
    });
    var total = rows.length;
    var template = tools.dataset.countTemplate || "";

    function showCount(shown) {
      if (count && template) {
        count.textContent = template.replace("__SHOWN__", String(shown)).replace("__TOTAL__", String(total));
      }
    }

    function filter() {
      var words = ungroup(fold(input.value)).split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var match = words.every(function (w) { return texts[i].indexOf(w) !== -1; });
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      showCount(shown);
    }

    if (input) {
      input.addEventListener("input", debounce(filter, 80));
    }

    var headers = Array.prototype.slice.call(table.tHead ? table.tHead.rows[0].cells : []);
    headers.forEach(function (th, column) {
      var kind = th.dataset.sort;
      if (!kind) { return; }
      var label = th.textContent;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      button.textContent = label;
      th.textContent = "";
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { if (other.dataset.sort) { other.setAttribute("aria-sort", "none"); } });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var keyed = rows.map(function (row, index) {
          var cell = row.cells[column];
          var raw = cell ? (cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent) : "";
          var key = kind === "number" ? parseFloat(raw) : fold(raw);
          if (kind === "number" && isNaN(key)) { key = 0; }
          return { row: row, key: key, index: index };
        });
        keyed.sort(function (a, b) {
          var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
          if (!ascending) { order = -order; }
          return order || a.index - b.index;
        });
        var fragment = document.createDocumentFragment();
        keyed.forEach(function (item) { fragment.appendChild(item.row); });
        body.appendChild(fragment);
      });
    });
  }

  /* --- the statement's downloads ------------------------------------------------------------------------- */

  /* "Descargar PDF" / "Descargar XLS": ask whether the file is ready (which asks a worker for it if not); when it
     is, the download starts; while it is prepared, the page shows the progress in place and starts the download
     by itself. Without this script the link opens the "preparing your file" page. */
  function enhanceDownloads(links, panel) {
    var text = panel.querySelector(".download-status__text");
    var bar = panel.querySelector(".progress");
    var busy = false;

    function say(message) { if (text) { text.textContent = message; } }

    links.forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) { return; }
        event.preventDefault();
        if (busy) { return; }
        busy = true;
        var started = Date.now();
        var delay = 700;
        var clock = null;

        function progress() {
          var seconds = Math.floor((Date.now() - started) / 1000);
          say(panel.dataset.preparing + " " + panel.dataset.elapsed + ": " + seconds + " s");
        }

        function stop() {
          busy = false;
          if (clock) { clearInterval(clock); }
        }

        function poll() {
          getJSON(link.dataset.statusUrl).then(function (data) {
            if (data.ready) {
              stop();
              if (!panel.hidden) {
                if (bar) { bar.classList.add("progress--done"); }
                say(panel.dataset.ready);
              }
              window.location.href = data.url || link.href;
              return;
            }
            if (panel.hidden) {
              panel.hidden = false;
              if (bar) { bar.classList.remove("progress--done"); }
              progress();
              clock = setInterval(progress, 1000);
            }
            delay = Math.min(delay * 1.3, 5000);
            setTimeout(poll, delay);
          }).catch(function () {
            stop();
            panel.hidden = false;
            say(panel.dataset.failed);
          });
        }
        panel.hidden = true;
        poll();
      });
    });
  }

  /* --- the preparing page --------------------------------------------------------------------------------- */

  function enhancePreparing(section) {
    var statusUrl = section.dataset.statusUrl;
    var downloadUrl = section.dataset.downloadUrl;
    var elapsed = section.querySelector("#preparing-elapsed");
    var status = section.querySelector("#preparing-status");
    var bar = section.querySelector(".progress");
    var started = Date.now();
    var delay = 1000;
    var done = false;

    var clock = setInterval(function () {
      if (elapsed) { elapsed.textContent = String(Math.floor((Date.now() - started) / 1000)); }
    }, 1000);

    function poll() {
      if (done) { return; }
      getJSON(statusUrl).then(function (data) {
        if (data.ready) {
          done = true;
          clearInterval(clock);
          if (bar) { bar.setAttribute("aria-busy", "false"); bar.classList.add("progress--done"); }
          if (status) { status.textContent = section.dataset.readyText || ""; }
          window.location.href = data.url || downloadUrl;
          return;
        }
        delay = Math.min(delay * 1.3, 5000);
        setTimeout(poll, delay);
      }).catch(function () {
        delay = Math.min(delay * 2, 10000);
        setTimeout(poll, delay);
      });
    }
    setTimeout(poll, delay);
  }

  function enhanceDisputeLinks(table, form) {
    var documentInput = form.querySelector("input[name=document_number]");
    var message = form.querySelector("textarea[name=message]");
    if (!documentInput || !message) { return; }
    table.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.st-dispute-link") : null;
      if (!link) { return; }
      var cell = link.closest("td");
      if (!cell || cell.dataset.value === undefined) { return; }
      event.preventDefault();
      documentInput.value = cell.dataset.value;
      form.scrollIntoView({ block: "start" });
      message.focus();
    });
  }

  function start() {
    var selector = document.getElementById("statement-selector");
    if (selector) { enhanceSelector(selector); }
    var tools = document.getElementById("lines-tools");
    var table = document.getElementById("statement-lines");
    if (tools && table) { enhanceLines(tools, table); }
    var disputeForm = document.getElementById("dispute-form");
    if (table && disputeForm) { enhanceDisputeLinks(table, disputeForm); }
    var downloads = document.querySelectorAll(".statement-actions a[data-status-url]");
    var panel = document.getElementById("download-status");
    if (downloads.length && panel) { enhanceDownloads(Array.prototype.slice.call(downloads), panel); }
    var preparing = document.getElementById("file-preparing");
    if (preparing) { enhancePreparing(preparing); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
