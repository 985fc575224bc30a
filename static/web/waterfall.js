// The waterfall of a trace: more rows as the user scrolls, collapse/expand, span details,
// keys j/k. The server sends rows as escaped HTML (explorer/web/traces.py, trace_rows).
"use strict";
(function () {
  var table = document.getElementById("waterfall");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rowsUrl = table.dataset.rowsUrl;
  var collapsed = new Set((table.dataset.collapsed || "").split(",").filter(Boolean));
  var nextOffset = parseInt(table.dataset.nextOffset, 10) || 0;
  var total = parseInt(table.dataset.total, 10) || 0;
  var loading = false;
  var more = document.getElementById("more-rows");
  var status = document.getElementById("rows-status");
  var panel = document.getElementById("span-panel");

  function query(offset) {
    var params = new URLSearchParams({offset: offset, limit: 200});
    if (collapsed.size) { params.set("collapsed", Array.from(collapsed).join(",")); }
    return rowsUrl + "?" + params.toString();
  }

  function updateStatus() {
    if (status) { status.textContent = nextOffset + " / " + total; }
    if (more) { more.hidden = nextOffset >= total; }
  }

  function load(offset) {
    if (loading || offset >= total) { return Promise.resolve(); }
    loading = true;
    return fetch(query(offset), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        body.insertAdjacentHTML("beforeend", data.html);
        nextOffset = data.next_offset;
        total = data.total;
        updateStatus();
      })
      .finally(function () { loading = false; });
  }

  if (more) {
    more.addEventListener("click", function (event) { event.preventDefault(); load(nextOffset); });
    if ("IntersectionObserver" in window) {
      new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) { load(nextOffset); }
      }, {root: null, rootMargin: "400px"}).observe(more);
    }
  }

  body.addEventListener("click", function (event) {
    var toggle = event.target.closest("button.toggle");
    if (toggle) {
      var row = toggle.closest("tr");
      var id = toggle.dataset.row;
      if (collapsed.has(id)) { collapsed.delete(id); } else { collapsed.add(id); }
      // Rows after the toggled one change: drop them and load again from there.
      while (row.nextElementSibling) { row.nextElementSibling.remove(); }
      var expanded = !collapsed.has(id);
      toggle.setAttribute("aria-expanded", expanded ? "true" : "false");
      toggle.textContent = expanded ? "\u25BE" : "\u25B8";
      nextOffset = parseInt(row.dataset.index, 10) + 1;
      total = nextOffset;  // corrected by the answer
      loading = false;
      fetch(query(nextOffset), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          body.insertAdjacentHTML("beforeend", data.html);
          nextOffset = data.next_offset;
          total = data.total;
          updateStatus();
          toggle.focus();
        });
      return;
    }
    var link = event.target.closest("a.span-link");
    if (link && panel) {
      event.preventDefault();
      showSpan(link);
    }
  });

  function showSpan(link) {
    body.querySelectorAll("tr.is-selected").forEach(function (r) { r.classList.remove("is-selected"); });
    link.closest("tr").classList.add("is-selected");
    var url = new URL(link.href);
    url.searchParams.set("partial", "1");
    fetch(url, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { panel.innerHTML = html; })
      .catch(function () { window.location.href = link.href; });
  }

  // j / k: next / previous span link, as in many trace viewers.
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea") || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key !== "j" && event.key !== "k") { return; }
    var links = Array.from(body.querySelectorAll("a.span-link"));
    if (!links.length) { return; }
    var at = links.indexOf(document.activeElement);
    var next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
    links[next].focus();
    if (event.key === "j" && next > links.length - 20) { load(nextOffset); }
    event.preventDefault();
  });

  var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (target) { target.classList.add("is-selected"); }
})();
