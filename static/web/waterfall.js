// The waterfall of a trace (explorer/web/traces.py renders rows as escaped HTML).
// Virtual scrolling: the scroll area is as tall as every visible row; only the rows near the
// viewport are in the DOM, fetched in windows of `data-window` rows as one scrolls. Also:
// collapse/expand and "levels shown", zoom into a time range (drag over the minimap or the
// time axis; the bars' viewBox changes), the critical path toggle, search hits with
// next/previous, and the details panel following the keyboard focus (j / k); collapse by
// service, clock or relative times, span events' names on hover and focus, a span's link.
"use strict";
(function () {
  var table = document.getElementById("waterfall");
  var scroller = document.getElementById("waterfall-scroll");
  if (!table || !scroller) { return; }
  document.querySelectorAll(".no-js").forEach(function (el) { el.hidden = true; });
  var body = table.tBodies[0];
  var data = table.dataset;
  var rowsUrl = data.rowsUrl;
  var BLOCK = parseInt(data.window, 10) || 200;
  var MARGIN = 30;            // rows drawn above and below the viewport
  var MAX_HEIGHT = 8000000;   // px; taller lists are scaled (browsers cap element heights)
  var durationNs = parseFloat(data.durationNs) || 0;
  var state = {
    collapsed: new Set((data.collapsed || "").split(",").filter(Boolean)),
    expanded: new Set((data.expanded || "").split(",").filter(Boolean)),
    levels: data.levels && data.levels !== "0" ? data.levels : "",
    foldService: "",          // the service whose spans are collapsed (its name)
    fold: data.fold || ""     // "entries": each service's first level only
  };
  var foldSelect = document.getElementById("fold-service");
  if (foldSelect) { state.foldService = foldSelect.value; }
  var selectedRow = null;     // the row whose details the panel shows
  var total = parseInt(data.total, 10) || 0;
  var blocks = new Map();     // block number -> [tr, ...] for the current state
  var stale = new Map();      // the blocks before the state changed, shown until replaced
  var pending = new Map();    // block number -> true while fetched
  var generation = 0;         // bumped when the state changes: late answers are dropped
  var rowHeight = 0;
  var focusIndex = -1;
  var zoom = [0, 1];          // the shown time range, fractions of the trace
  var matches = (data.matches || "").split(",").filter(Boolean);
  var matchSet = new Set(matches);
  var hit = -1;
  var panel = document.getElementById("span-panel");
  var status = document.getElementById("rows-status");
  var zoomStatus = document.getElementById("zoom-status");
  var zoomReset = document.getElementById("zoom-reset");
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var units = lang === "ru" ? ["нс", "мкс", "мс", "с", "мин", "ч"] : ["ns", "µs", "ms", "s", "min", "h"];
  var numberFormat = new Intl.NumberFormat(lang, {maximumSignificantDigits: 3});

  function params(extra) {
    var p = new URLSearchParams(extra);
    if (state.collapsed.size) { p.set("collapsed", Array.from(state.collapsed).join(",")); }
    if (state.expanded.size) { p.set("expanded", Array.from(state.expanded).join(",")); }
    if (state.levels !== "") { p.set("levels", state.levels); }
    if (state.foldService) { p.set("fold_service", state.foldService); }
    if (state.fold) { p.set("fold", state.fold); }
    return rowsUrl + "?" + p.toString();
  }

  function parseRows(html) {
    var template = document.createElement("template");
    template.innerHTML = "<table><tbody>" + html + "</tbody></table>";
    return Array.from(template.content.querySelectorAll("tr"));
  }

  function fetchBlock(block) {
    if (blocks.has(block) || pending.has(block) || block * BLOCK >= Math.max(total, 1)) { return; }
    pending.set(block, true);
    var asked = generation;
    fetch(params({offset: block * BLOCK, limit: BLOCK}), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (answer) {
        if (asked !== generation) { return; }
        blocks.set(block, parseRows(answer.html));
        setTotal(answer.total);
        schedule();
      })
      .catch(function () { /* the placeholders stay; scrolling asks again */ })
      .finally(function () { if (asked === generation) { pending.delete(block); } });
  }

  function setTotal(value) {
    if (value === total) { return; }
    total = value;
    table.setAttribute("aria-rowcount", String(total + 1));
  }

  function reset() {
    generation += 1;
    stale = blocks;
    blocks = new Map();
    pending = new Map();
  }

  // Geometry: scrolled pixels <-> row indexes, scaled when the list is too tall.
  function headHeight() { return table.tHead ? table.tHead.offsetHeight : 0; }
  function fullHeight() { return total * rowHeight; }
  function spacerHeight() { return Math.min(fullHeight(), MAX_HEIGHT); }
  function ratio() {
    var view = scroller.clientHeight;
    var shown = spacerHeight() - view;
    return shown > 0 ? Math.max(fullHeight() - view, 0) / shown : 1;
  }
  function virtualTop() { return Math.max(scroller.scrollTop, 0) * ratio(); }

  var scheduled = false;
  function schedule() {
    if (scheduled) { return; }
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; render(); });
  }

  function spacer(height) {
    var tr = document.createElement("tr");
    tr.className = "spacer";
    tr.setAttribute("aria-hidden", "true");
    var td = document.createElement("td");
    td.colSpan = 4;
    td.style.height = Math.max(height, 0) + "px";
    tr.appendChild(td);
    return tr;
  }

  function placeholder(index) {
    var tr = document.createElement("tr");
    tr.className = "span-row placeholder";
    tr.dataset.index = String(index);
    var td = document.createElement("td");
    td.colSpan = 4;
    td.textContent = "…";
    tr.appendChild(td);
    return tr;
  }

  // Numbers for SVG attributes: a dot whatever the language (Number's own toString).
  function round3(value) { return String(Math.round(value * 1000) / 1000); }

  function rowAt(index) {
    var block = Math.floor(index / BLOCK);
    var rows = blocks.get(block) || stale.get(block);
    return rows ? rows[index % BLOCK] : undefined;
  }

  function render() {
    if (!rowHeight) { return; }
    var view = scroller.clientHeight;
    var top = virtualTop();
    var first = Math.max(Math.floor(top / rowHeight) - MARGIN, 0);
    var last = Math.min(Math.ceil((top + view) / rowHeight) + MARGIN, total);
    for (var b = Math.floor(first / BLOCK); b * BLOCK < last; b++) { fetchBlock(b); }
    // Row i sits at scrollTop + (i * rowHeight - top): exact when unscaled (ratio 1).
    var before = scroller.scrollTop + first * rowHeight - top;
    var nodes = [spacer(before)];
    for (var i = first; i < last; i++) {
      var row = rowAt(i);
      if (row) { decorate(row); nodes.push(row); } else { nodes.push(placeholder(i)); }
    }
    nodes.push(spacer(spacerHeight() - before - (last - first) * rowHeight));
    // Moving rows in the DOM drops the focus: give it back to the focused row's link.
    var active = document.activeElement;
    var focused = active && body.contains(active);
    body.replaceChildren.apply(body, nodes);
    if (focused && document.activeElement !== active) {
      refocus(active.classList.contains("toggle") ? "button.toggle" : "a.span-link");
    }
    if (status) { status.textContent = total ? (first + 1) + "–" + last + " / " + total : "0"; }
  }

  function refocus(what) {
    var row = body.querySelector('tr[data-index="' + focusIndex + '"] ' + (what || "a.span-link"));
    if (row) { row.focus({preventScroll: true}); }
  }

  function decorate(row) {
    row.classList.toggle("is-match", matchSet.has(row.dataset.row));
    row.classList.toggle("is-current-hit", hit >= 0 && matches[hit] === row.dataset.row);
    row.classList.toggle("is-focused", String(focusIndex) === row.dataset.index);
    row.classList.toggle("is-selected", selectedRow === row.dataset.row);
    var bar = row.querySelector("svg.bar");
    if (bar) { bar.setAttribute("viewBox", round3(zoom[0] * 1000) + " 0 " + round3((zoom[1] - zoom[0]) * 1000) + " 10"); }
  }

  function scrollToIndex(index) {
    var view = scroller.clientHeight - headHeight();
    var y = index * rowHeight;
    var top = virtualTop();
    if (y < top || y + rowHeight > top + view) {
      scroller.scrollTop = Math.max(y - view / 3, 0) / ratio();
    }
    render();
  }

  // First paint: the rows the page came with are the block of `data-offset`.
  var initial = Array.from(body.querySelectorAll("tr.span-row"));
  var offset = parseInt(data.offset, 10) || 0;
  if (initial.length) {
    rowHeight = initial[0].getBoundingClientRect().height || 24;
    blocks.set(Math.floor(offset / BLOCK), initial);
  } else {
    rowHeight = 24;
  }
  table.classList.add("is-virtual");
  render();
  if (offset) { scrollToIndex(offset); }
  var hash = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (hash && hash.dataset.index) {
    focusIndex = parseInt(hash.dataset.index, 10);
    scrollToIndex(focusIndex);
  }
  scroller.addEventListener("scroll", schedule, {passive: true});
  // Rows are taller on narrow screens (two lines): measure again when the width changes.
  window.addEventListener("resize", function () {
    var row = body.querySelector("tr.span-row");
    var height = row ? row.getBoundingClientRect().height : 0;
    if (height) { rowHeight = height; }
    schedule();
  });

  // Collapse / expand one span, or show the tree to a depth.
  function changed() {
    reset();
    var block = Math.floor(Math.max(focusIndex, 0) / BLOCK);
    fetchBlock(block);
    render();
  }

  body.addEventListener("click", function (event) {
    var toggle = event.target.closest("button.toggle");
    if (toggle) {
      var id = toggle.dataset.row;
      var open = toggle.getAttribute("aria-expanded") === "true";
      if (open) { state.collapsed.add(id); state.expanded.delete(id); } else { state.collapsed.delete(id); state.expanded.add(id); }
      // At once, before the rows under it arrive.
      toggle.setAttribute("aria-expanded", open ? "false" : "true");
      toggle.textContent = open ? "\u25B8" : "\u25BE";
      focusIndex = parseInt(toggle.closest("tr").dataset.index, 10);
      changed();
      return;
    }
    var link = event.target.closest("a.span-link");
    if (link && panel) {
      event.preventDefault();
      focusIndex = parseInt(link.closest("tr").dataset.index, 10);
      showSpan(link);
    }
  });

  // The view: levels shown, one service's spans collapsed, each service's first level only;
  // "Collapse all" (the roots only) and "Expand all". The server folds the rows (rows/), so a
  // huge trace is never read whole here. Collapsing or expanding one span starts from it.
  var depthSelect = document.getElementById("depth-select");
  var foldEntries = document.getElementById("fold-entries");
  function showView(levels, foldService, fold) {
    state.levels = levels;
    state.foldService = foldService;
    state.fold = fold;
    state.collapsed.clear();
    state.expanded.clear();
    if (depthSelect) { depthSelect.value = levels; }
    if (foldSelect) { foldSelect.value = foldService; }
    if (foldEntries) { foldEntries.setAttribute("aria-pressed", fold ? "true" : "false"); }
    focusIndex = 0;
    scroller.scrollTop = 0;
    changed();
  }
  if (depthSelect) {
    depthSelect.addEventListener("change", function () { showView(depthSelect.value, state.foldService, state.fold); });
  }
  if (foldSelect) {
    foldSelect.addEventListener("change", function () { showView(state.levels, foldSelect.value, state.fold); });
  }
  if (foldEntries) {
    foldEntries.addEventListener("click", function (event) {
      event.preventDefault();
      showView(state.levels, state.foldService, state.fold ? "" : "entries");
    });
  }
  var collapseAll = document.getElementById("collapse-all");
  if (collapseAll) {
    collapseAll.addEventListener("click", function (event) { event.preventDefault(); showView("1", "", ""); });
  }
  var expandAll = document.getElementById("expand-all");
  if (expandAll) {
    expandAll.addEventListener("click", function (event) { event.preventDefault(); showView("", "", ""); });
  }

  var critical = document.getElementById("show-critical");
  if (critical) {
    critical.addEventListener("change", function () { table.classList.toggle("hide-critical", !critical.checked); });
  }

  // Span details: on click, and following the keyboard focus.
  var detailTimer = null;
  var shownHref = null;
  function showSpan(link) {
    body.querySelectorAll("tr.is-selected").forEach(function (r) { r.classList.remove("is-selected"); });
    link.closest("tr").classList.add("is-selected");
    selectedRow = link.closest("tr").dataset.row;
    if (shownHref === link.href) { return; }
    shownHref = link.href;
    var url = new URL(link.href);
    url.searchParams.set("partial", "1");
    fetch(url, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (shownHref === link.href) { panel.innerHTML = html; breakKeys(panel); offerCopy(panel); }
      })
      .catch(function () {
        // The panel says so and links the span's own page (no navigation behind one's back).
        if (shownHref !== link.href) { return; }
        shownHref = null;
        var note = document.createElement("p");
        var open = document.createElement("a");
        open.href = link.href;
        open.textContent = link.textContent;
        note.appendChild(open);
        panel.replaceChildren(note);
      });
  }

  // Attribute keys break after their separators (customer. / type), never mid-word: the
  // text stays as the server sent it, <wbr> elements are added beside it.
  function breakKeys(root) {
    root.querySelectorAll("table.kv th").forEach(function (th) {
      if (th.dataset.broken || th.children.length) { return; }
      var parts = th.textContent.split(/(?<=[._\/:-])/);
      th.replaceChildren();
      parts.forEach(function (part, i) {
        if (i) { th.appendChild(document.createElement("wbr")); }
        th.appendChild(document.createTextNode(part));
      });
      th.dataset.broken = "1";
    });
  }
  if (panel) { breakKeys(panel); }

  function focusAt(index) {
    var target = Math.min(Math.max(index, 0), Math.max(total - 1, 0));
    focusIndex = target;
    scrollToIndex(target);
    focusIndex = target;  // drawing the rows may have given the focus back to the old row
    var link = body.querySelector('tr[data-index="' + target + '"] a.span-link');
    body.querySelectorAll("tr.is-focused").forEach(function (r) { r.classList.remove("is-focused"); });
    if (link) {
      link.closest("tr").classList.add("is-focused");
      link.focus({preventScroll: true});
      if (panel) {
        window.clearTimeout(detailTimer);
        detailTimer = window.setTimeout(function () { showSpan(link); }, 120);
      }
    } else {
      // Not fetched yet: try again when it is.
      window.setTimeout(function () { if (rowAt(focusIndex)) { focusAt(focusIndex); } }, 150);
    }
  }

  body.addEventListener("focusin", function (event) {
    var link = event.target.closest("a.span-link");
    if (link) { focusIndex = parseInt(link.closest("tr").dataset.index, 10); }
  });

  // Search hits: next / previous, wherever they are in the trace.
  var hitPrev = document.getElementById("hit-prev");
  var hitNext = document.getElementById("hit-next");
  var hitStatus = document.getElementById("hit-status");
  function goToHit(step) {
    if (!matches.length) { return; }
    hit = (hit + step + matches.length) % matches.length;
    if (hitStatus) { hitStatus.textContent = (hit + 1) + " / " + matches.length; }
    fetch(params({at: matches[hit], limit: BLOCK}), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (answer) {
        if (answer.index === null) {
          // Hidden under a collapsed span: show everything, then go there.
          state.collapsed.clear(); state.expanded.clear(); state.levels = "";
          state.foldService = ""; state.fold = "";
          if (depthSelect) { depthSelect.value = ""; }
          if (foldSelect) { foldSelect.value = ""; }
          if (foldEntries) { foldEntries.setAttribute("aria-pressed", "false"); }
          reset();
          hit -= step;
          goToHit(step);
          return;
        }
        blocks.set(Math.floor(answer.offset / BLOCK), parseRows(answer.html));
        setTotal(answer.total);
        focusAt(answer.index);
      });
  }
  if (matches.length && hitNext && hitPrev) {
    hitNext.hidden = false;
    hitPrev.hidden = false;
    hitNext.addEventListener("click", function () { goToHit(1); });
    hitPrev.addEventListener("click", function () { goToHit(-1); });
    if (hitStatus) { hitStatus.textContent = matches.length + ""; }
  }

  // Zoom into a time range: drag over the minimap or the time axis.
  var minimap = document.getElementById("minimap");
  var axis = document.getElementById("time-axis");
  var ticks = axis ? axis.querySelector(".ticks") : null;
  var svgNs = "http://www.w3.org/2000/svg";
  var selection = null;
  var windowRect = null;
  if (minimap) {
    windowRect = document.createElementNS(svgNs, "rect");
    windowRect.setAttribute("class", "zoom-window");
    windowRect.setAttribute("y", "0");
    windowRect.setAttribute("height", "100");
    minimap.appendChild(windowRect);
    selection = document.createElementNS(svgNs, "rect");
    selection.setAttribute("class", "zoom-selection");
    selection.setAttribute("y", "0");
    selection.setAttribute("height", "100");
    minimap.appendChild(selection);
  }

  function formatNs(ns) {
    var steps = [[3.6e12, 5], [6e10, 4], [1e9, 3], [1e6, 2], [1e3, 1]];
    for (var i = 0; i < steps.length; i++) {
      if (ns >= steps[i][0]) { return numberFormat.format(ns / steps[i][0]) + " " + units[steps[i][1]]; }
    }
    return numberFormat.format(ns) + " " + units[0];
  }

  // Relative times (from the trace's start) or clock times in the viewer's time zone (the
  // settings page's), remembered in localStorage; rows carry both, CSS shows one.
  var clockBox = document.getElementById("clock-times");
  var CLOCK_KEY = "explorer.waterfall-clock-times";
  var startNs = parseFloat(data.startNs) || 0;
  var clockFormat = null;
  try {
    clockFormat = new Intl.DateTimeFormat(lang, {timeZone: data.timeZone || "UTC", hour: "2-digit",
      minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23"});
  } catch (e) { clockFormat = null; }
  function clockTimes() { return table.classList.contains("times-clock"); }
  function formatAt(fraction) {
    if (clockTimes() && clockFormat) { return clockFormat.format(new Date((startNs + fraction * durationNs) / 1e6)); }
    return formatNs(fraction * durationNs);
  }
  function showClockTimes(on, remember) {
    table.classList.toggle("times-clock", on);
    if (clockBox) { clockBox.checked = on; }
    if (remember) {
      try { window.localStorage.setItem(CLOCK_KEY, on ? "1" : ""); } catch (e) { /* private mode */ }
    }
  }
  if (clockBox) {
    var remembered = false;
    try { remembered = window.localStorage.getItem(CLOCK_KEY) === "1"; } catch (e) { remembered = false; }
    showClockTimes(remembered, false);
    clockBox.addEventListener("change", function () { showClockTimes(clockBox.checked, true); drawZoom(); });
  }

  function drawZoom() {
    var whole = zoom[0] <= 0 && zoom[1] >= 1;
    body.querySelectorAll("tr.span-row").forEach(decorate);
    blocks.forEach(function (rows) { rows.forEach(decorate); });
    if (windowRect) {
      windowRect.setAttribute("x", round3(zoom[0] * 100));
      windowRect.setAttribute("width", round3((zoom[1] - zoom[0]) * 100));
      windowRect.classList.toggle("is-whole", whole);
    }
    if (zoomReset) { zoomReset.hidden = whole; }
    if (zoomStatus) {
      zoomStatus.textContent = whole ? zoomStatus.dataset.whole || zoomStatus.textContent
        : formatAt(zoom[0]) + " – " + formatAt(zoom[1]);
    }
    drawTicks();
  }

  // Times on the axis: as many as fit its width (clock times are longer), at most five.
  function drawTicks() {
    if (!ticks) { return; }
    var room = clockTimes() ? 110 : 70;
    var steps = Math.max(1, Math.min(4, Math.floor((ticks.clientWidth || 400) / room) - 1));
    ticks.replaceChildren();
    for (var i = 0; i <= steps; i++) {
      var tick = document.createElement("span");
      tick.className = "tick";
      tick.style.left = (i * 100 / steps) + "%";
      tick.textContent = formatAt(zoom[0] + (zoom[1] - zoom[0]) * i / steps);
      ticks.appendChild(tick);
    }
  }
  window.addEventListener("resize", drawTicks);
  if (zoomStatus) { zoomStatus.dataset.whole = zoomStatus.textContent; }

  function setZoom(from, to) {
    from = Math.max(0, Math.min(from, 1));
    to = Math.max(0, Math.min(to, 1));
    if (to - from < 0.0005) { return; }
    zoom = [from, to];
    drawZoom();
  }

  // Dragging over an element: `toFraction` maps a pointer x to a fraction of the trace.
  function draggable(element, toFraction) {
    var start = null;
    element.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      start = toFraction(event.clientX);
      element.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    element.addEventListener("pointermove", function (event) {
      if (start === null || !selection) { return; }
      var now = toFraction(event.clientX);
      selection.setAttribute("x", round3(Math.min(start, now) * 100));
      selection.setAttribute("width", round3(Math.abs(now - start) * 100));
    });
    element.addEventListener("pointerup", function (event) {
      if (start === null) { return; }
      var end = toFraction(event.clientX);
      if (selection) { selection.setAttribute("width", "0"); }
      if (Math.abs(end - start) > 0.002) { setZoom(Math.min(start, end), Math.max(start, end)); }
      start = null;
    });
  }

  function fractionOf(element, clientX) {
    var box = element.getBoundingClientRect();
    return box.width ? Math.max(0, Math.min((clientX - box.left) / box.width, 1)) : 0;
  }
  if (minimap) { draggable(minimap, function (x) { return fractionOf(minimap, x); }); }
  if (axis) {
    draggable(axis, function (x) { return zoom[0] + (zoom[1] - zoom[0]) * fractionOf(axis, x); });
  }
  if (zoomReset) { zoomReset.addEventListener("click", function () { zoom = [0, 1]; drawZoom(); }); }
  drawZoom();

  // The timeline's share of the table: at least 60 % (the default), widened by dragging the
  // handle at its left edge or with the arrow keys on it, as far as leaves 8rem for the span
  // names beside the start and duration; remembered in localStorage.
  var handle = document.getElementById("timeline-handle");
  var SHARE_KEY = "explorer.timeline-share";
  var SHARE_MIN = 60;
  var NAMES_MIN_PX = 128;
  function maxShare() {
    var width = table.getBoundingClientRect().width;
    var numbers = 0;
    table.querySelectorAll("thead th.num").forEach(function (th) { numbers += th.getBoundingClientRect().width; });
    return width ? Math.max(SHARE_MIN, Math.floor((width - numbers - NAMES_MIN_PX) / width * 100)) : SHARE_MIN;
  }
  function setShare(value, remember) {
    var top = maxShare();
    var share = Math.round(Math.max(SHARE_MIN, Math.min(value, top)));
    handle.setAttribute("aria-valuemax", String(top));
    table.style.setProperty("--timeline-share", share + "%");
    handle.setAttribute("aria-valuenow", String(share));
    if (remember) {
      try { window.localStorage.setItem(SHARE_KEY, String(share)); } catch (e) { /* private mode */ }
    }
    return share;
  }
  function storedShare() {
    try { return parseFloat(window.localStorage.getItem(SHARE_KEY)) || SHARE_MIN; } catch (e) { return SHARE_MIN; }
  }
  if (handle && axis) {
    handle.hidden = false;
    handle.setAttribute("aria-valuemin", String(SHARE_MIN));
    var share = setShare(storedShare(), false);
    window.addEventListener("resize", function () { share = setShare(storedShare(), false); });
    var shareAt = function (clientX) {
      var box = table.getBoundingClientRect();
      return box.width ? (axis.getBoundingClientRect().right - clientX) / box.width * 100 : share;
    };
    handle.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      event.stopPropagation();  // not a zoom drag over the axis
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      handle.classList.add("is-dragging");
    });
    handle.addEventListener("pointermove", function (event) {
      if (handle.classList.contains("is-dragging")) { share = setShare(shareAt(event.clientX), false); }
    });
    handle.addEventListener("pointerup", function (event) {
      if (!handle.classList.contains("is-dragging")) { return; }
      event.stopPropagation();
      handle.classList.remove("is-dragging");
      share = setShare(shareAt(event.clientX), true);
    });
    // The arrows move the handle: left widens the timeline, right narrows it.
    var steps = {ArrowLeft: 2, ArrowRight: -2, PageUp: 10, PageDown: -10};
    handle.addEventListener("keydown", function (event) {
      var next = event.key in steps ? share + steps[event.key]
        : event.key === "Home" ? SHARE_MIN : event.key === "End" ? maxShare() : null;
      if (next === null) { return; }
      event.preventDefault();
      event.stopPropagation();
      share = setShare(next, true);
    });
  }

  // Keys: j / k next / previous span (details follow), n / N next / previous match, Esc zoom.
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea") || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "j" || event.key === "k") {
      var from = focusIndex >= 0 ? focusIndex : Math.floor(virtualTop() / rowHeight) - 1;
      focusAt(from + (event.key === "j" ? 1 : -1));
    } else if (event.key === "n" || event.key === "N") {
      goToHit(event.key === "n" ? 1 : -1);
    } else if (event.key === "Escape" && (zoom[0] > 0 || zoom[1] < 1)) {
      zoom = [0, 1];
      drawZoom();
    } else {
      return;
    }
    event.preventDefault();
  });

  // Span events: ticks on the bars; the name and time show on hover and on keyboard focus.
  // The name is trace data: it goes in as text, never as HTML.
  var tip = document.getElementById("event-tip");
  function showTip(mark) {
    if (!tip) { return; }
    var offsetNs = parseFloat(mark.dataset.offsetNs) || 0;
    var when = clockTimes() && clockFormat ? clockFormat.format(new Date((startNs + offsetNs) / 1e6)) : "+" + formatNs(offsetNs);
    tip.textContent = mark.dataset.name + " · " + when;
    tip.hidden = false;
    var box = mark.getBoundingClientRect();
    var left = Math.min(Math.max(box.left - tip.offsetWidth / 2, 4), document.documentElement.clientWidth - tip.offsetWidth - 4);
    tip.style.left = Math.max(left, 0) + "px";
    tip.style.top = (box.top - tip.offsetHeight - 4 < 0 ? box.bottom + 4 : box.top - tip.offsetHeight - 4) + "px";
  }
  function hideTip() { if (tip) { tip.hidden = true; } }
  body.addEventListener("pointerover", function (event) {
    var mark = event.target.closest && event.target.closest("g.event");
    if (mark) { showTip(mark); }
  });
  body.addEventListener("pointerout", function (event) {
    if (event.target.closest && event.target.closest("g.event")) { hideTip(); }
  });
  body.addEventListener("focusin", function (event) {
    var mark = event.target.closest && event.target.closest("g.event");
    if (mark) { showTip(mark); }
  });
  body.addEventListener("focusout", hideTip);
  scroller.addEventListener("scroll", hideTip, {passive: true});

  // A span's link (in the details panel): copied with a button that says it did.
  function offerCopy(root) {
    root.querySelectorAll(".copy-span-link").forEach(function (button) { button.hidden = false; });
    var article = root.querySelector(".span-detail[data-row]");
    if (article && article.dataset.row !== selectedRow) { selectedRow = article.dataset.row; schedule(); }
  }
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    // Plain HTTP: the older way, through a selected field.
    return new Promise(function (done, failed) {
      var field = document.createElement("textarea");
      field.value = text;
      field.setAttribute("readonly", "");
      field.className = "visually-hidden";
      document.body.appendChild(field);
      field.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      field.remove();
      if (copied) { done(); } else { failed(new Error("copy refused")); }
    });
  }
  if (panel) {
    offerCopy(panel);
    panel.addEventListener("click", function (event) {
      var button = event.target.closest(".copy-span-link");
      var link = panel.querySelector(".span-link-url");
      var said = panel.querySelector(".copy-status");
      if (!button || !link || !said) { return; }
      copyText(link.href).then(
        function () { said.textContent = button.dataset.copied; said.className = "copy-status is-done"; },
        function () { said.textContent = button.dataset.failed; said.className = "copy-status is-failed"; }
      );
    });
  }

  // Exposed for the browser tests and anyone scripting the page.
  table.waterfall = {
    total: function () { return total; },
    zoom: function () { return zoom.slice(); },
    setZoom: setZoom,
    scrollToIndex: scrollToIndex
  };
})();
