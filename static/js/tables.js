// Every page (templates/base.html): each cell of a data table carries its column's name
// (data-label), so that on a narrow screen static/css/site.css shows one card per row with
// every value named instead of a table scrolling sideways. Tables that arrive later (lazy
// fragments, refreshed lists) are labelled as they are added. Tables with merged header
// cells, the waterfall (laid out on its own) and key-value tables keep their columns.
"use strict";
(function () {
  var TABLES = "table.data:not(.waterfall):not(.kv):not(.is-labelled)";

  function label(table) {
    var head = table.tHead && table.tHead.rows.length === 1 ? table.tHead.rows[0] : null;
    if (!head || head.querySelector("[colspan]")) { return; }
    var names = Array.from(head.cells).map(function (cell) { return cell.textContent.trim(); });
    Array.from(table.tBodies).forEach(function (body) {
      Array.from(body.rows).forEach(function (row) {
        if (row.querySelector("[colspan]")) { return; }
        Array.from(row.cells).forEach(function (cell, i) {
          if (names[i]) { cell.dataset.label = names[i]; }
        });
      });
    });
    table.classList.add("is-labelled");
  }

  function labelWithin(node) {
    if (node.nodeType !== 1) { return; }
    if (node.matches(TABLES)) { label(node); }
    node.querySelectorAll(TABLES).forEach(label);
  }

  function start() {
    labelWithin(document.body);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) { change.addedNodes.forEach(labelWithin); });
    }).observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
