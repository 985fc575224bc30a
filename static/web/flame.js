// The flame graph of a trace (templates/web/flame.html): the boxes of one view come from
// the server (explorer/web/flame.py: only those at least a pixel wide), drawn on a canvas.
// Hover or keyboard focus shows a box's service, name, duration and self time; a click zooms
// into its subtree, dragging across the graph into a time range (each a new view from the
// server); a click on the top box of a zoomed view or Enter opens the span's details.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("flame");
  if (!canvas || !canvas.getContext) { return; }
  var ROW = 20;            // px per level
  var MAX_LEVELS = 1500;   // a canvas taller than ~32,000 px is not drawn by browsers
  var STRIP = 24;          // px: the strip of where the undrawn spans start
  var text = canvas.dataset;
  var tip = document.getElementById("flame-tip");
  var status = document.getElementById("flame-status");
  var reset = document.getElementById("flame-reset");
  var open = document.getElementById("flame-open");
  var densityHelp = document.getElementById("flame-density-help");
  var services = [];       // of the shown view: {name, colour, dark}
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var units = lang === "ru" ? ["нс", "мкс", "мс", "с", "мин", "ч"] : ["ns", "µs", "ms", "s", "min", "h"];
  var numbers = new Intl.NumberFormat(lang, {maximumSignificantDigits: 3});
  var view = null;         // the server's answer for the shown view
  var levels = [];         // per depth: indexes of its boxes, by x
  var focus = -1;          // index of the focused box
  var scale = 1;           // px per ns

  function isDark(hex) {
    var n = parseInt((hex || "#000000").slice(1), 16);
    var luminance = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
    return luminance < 140;
  }

  function humanNs(ns) {
    var units_ns = [3.6e12, 6e10, 1e9, 1e6, 1e3];
    for (var i = 0; i < units_ns.length; i++) {
      if (ns >= units_ns[i]) { return numbers.format(ns / units_ns[i]) + " " + units[5 - i]; }
    }
    return numbers.format(ns) + " " + units[0];
  }

  function load(root, window_) {
    var width = Math.max(Math.round(canvas.parentElement.clientWidth), 100);
    var url = text.boxesUrl + "?root=" + root + "&width=" + width;
    if (window_) { url += "&from=" + Math.floor(window_[0]) + "&to=" + Math.ceil(window_[1]); }
    canvas.setAttribute("aria-busy", "true");
    fetch(url, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (answer) { show(answer); })
      .catch(function () { status.textContent = text.failed; })
      .finally(function () { canvas.removeAttribute("aria-busy"); });
  }

  function show(answer) {
    view = answer;
    services = view.services.map(function (s) {
      return {name: s.name, colour: s.colour, dark: isDark(s.colour)};
    });
    levels = [];
    for (var i = 0; i < view.row.length; i++) {
      var d = view.depth[i];
      if (d >= MAX_LEVELS) { continue; }
      (levels[d] = levels[d] || []).push(i);
    }
    levels.forEach(function (boxes) { boxes.sort(function (a, b) { return view.x[a] - view.x[b]; }); });
    focus = -1;  // until the graph gets the keyboard focus or a pointer
    reset.hidden = view.root < 0 && !view.window;
    status.textContent = view.root < 0 && !view.window ? text.whole
      : text.zoomed + ": " + (view.root < 0 ? "" : label(0) + ", ") + humanNs(view.start_ns) + " + " + humanNs(view.duration_ns);
    draw();
    if (document.activeElement === canvas && view.row.length) { setFocus(0); } else { describe(-1); }
    canvas.dataset.drawn = String(view.row.length);
    if (!canvas.dataset.paintedMs) {  // the first paint, in ms since navigation (benchmark)
      requestAnimationFrame(function () { canvas.dataset.paintedMs = String(Math.round(performance.now())); });
    }
    canvas.dataset.root = String(view.root);
  }

  function label(i) {
    return services[view.service[i]].name + " · " + view.names[view.name[i]];
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.parentElement.clientWidth;
    var boxesHeight = Math.max(levels.length, 1) * ROW;
    var height = boxesHeight + (view.density ? STRIP + 6 : 0);
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    scale = width / Math.max(view.duration_ns, 1);
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "12px system-ui, sans-serif";
    g.textBaseline = "middle";
    levels.forEach(function (boxes, depth) {
      boxes.forEach(function (i) { drawBox(g, i, depth); });
    });
    if (view.density) { drawDensity(g, boxesHeight + 6, width); }
    if (focus >= 0) { outline(g, focus, "#000000"); }
    densityHelp.hidden = !view.density;
  }

  // How many spans start at each moment (the narrow ones too): a strip to drag over.
  function drawDensity(g, top, width) {
    var counts = view.density;
    var most = Math.max.apply(null, counts) || 1;
    var slice = width / counts.length;
    g.fillStyle = "#777777";
    for (var i = 0; i < counts.length; i++) {
      if (!counts[i]) { continue; }
      var h = Math.max(2, STRIP * counts[i] / most);
      g.fillRect(i * slice, top + STRIP - h, Math.max(slice, 1), h);
    }
  }

  function rect(i) {
    var x = view.x[i] * scale;
    var w = Math.max(view.w[i] * scale, 1);
    return [x, view.depth[i] * ROW, w, ROW - 1];
  }

  function drawBox(g, i, depth) {
    var r = rect(i);
    var service = services[view.service[i]];
    g.fillStyle = service.colour;
    g.fillRect(r[0], r[1], r[2], r[3]);
    if (view.hidden[i]) {
      g.fillStyle = "#777777";
      g.fillRect(r[0], r[1] + r[3] - 3, r[2], 3);
    }
    if (view.error[i]) {
      g.strokeStyle = "#b00020";
      g.lineWidth = 2;
      g.strokeRect(r[0] + 1, r[1] + 1, Math.max(r[2] - 2, 0), r[3] - 2);
    }
    if (r[2] > 40) {
      g.save();
      g.beginPath();
      g.rect(r[0], r[1], r[2] - 3, r[3]);
      g.clip();
      g.fillStyle = service.dark ? "#ffffff" : "#000000";
      g.fillText((view.error[i] ? "! " : "") + label(i), Math.max(r[0], 0) + 4, r[1] + ROW / 2);
      g.restore();
    }
  }

  function outline(g, i, colour) {
    var r = rect(i);
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.strokeRect(r[0] + 1, r[1] + 1, Math.max(r[2] - 2, 1), r[3] - 2);
  }

  function boxAt(x, y) {
    var boxes = levels[Math.floor(y / ROW)] || [];
    var found = -1;
    for (var k = 0; k < boxes.length; k++) {
      var r = rect(boxes[k]);
      if (x >= r[0] && x <= r[0] + r[2]) { found = boxes[k]; }
      if (r[0] > x) { break; }
    }
    return found;
  }

  function describe(i, near) {
    if (i < 0 || !view) { tip.hidden = true; open.hidden = true; return; }
    var lines = [
      services[view.service[i]].name,
      view.names[view.name[i]],
      text.duration + ": " + humanNs(view.w[i]) + " · " + text.self + ": " + humanNs(view.self[i]),
    ];
    if (view.error[i]) { lines.push(text.error); }
    if (view.hidden[i]) { lines.push(numbers.format(view.hidden[i]) + " " + text.hidden); }
    tip.replaceChildren();
    lines.forEach(function (line, n) {
      var part = document.createElement(n === 0 ? "strong" : "span");
      part.textContent = line;
      tip.appendChild(part);
    });
    var r = rect(i);
    var scroller = canvas.parentElement;  // the tip sits outside it: never cut by its edge
    var left = Math.min(Math.max(near ? near[0] + 12 : r[0], 0), scroller.clientWidth - 240);
    var top = r[1] + ROW + 2 - scroller.scrollTop;
    tip.style.transform = "translate(" + Math.max(left, 0) + "px, " + top + "px)";
    tip.hidden = false;
    open.hidden = false;
    open.href = spanUrl(i);
  }

  function spanUrl(i) {
    return text.rowUrl.replace(/0\/$/, view.row[i] + "/");
  }

  function setFocus(i, near) {
    focus = i;
    draw();
    describe(i, near);
  }

  function point(event) {
    var bounds = canvas.getBoundingClientRect();
    return [event.clientX - bounds.left, event.clientY - bounds.top];
  }

  var dragFrom = null;     // px where a drag over the graph began
  var dragged = false;

  canvas.addEventListener("mousedown", function (event) {
    dragFrom = point(event)[0];
    dragged = false;
  });

  canvas.addEventListener("mouseup", function (event) {
    if (dragFrom === null || !view) { return; }
    var to = point(event)[0];
    var from = dragFrom;
    dragFrom = null;
    if (Math.abs(to - from) < 5) { return; }
    dragged = true;
    var left = Math.min(from, to) / scale + view.start_ns;
    var right = Math.max(from, to) / scale + view.start_ns;
    load(view.root, [left, right]);
  });

  canvas.addEventListener("mousemove", function (event) {
    if (!view) { return; }
    var p = point(event);
    if (dragFrom !== null && Math.abs(p[0] - dragFrom) >= 5) {
      draw();
      var g = canvas.getContext("2d");
      g.fillStyle = "rgba(0, 0, 0, 0.15)";
      g.fillRect(Math.min(dragFrom, p[0]), 0, Math.abs(p[0] - dragFrom), canvas.clientHeight);
      return;
    }
    var i = boxAt(p[0], p[1]);
    if (i >= 0 && i !== focus) { setFocus(i, p); }
  });

  canvas.addEventListener("click", function (event) {
    if (!view || dragged) { dragged = false; return; }
    var p = point(event);
    var i = boxAt(p[0], p[1]);
    if (i < 0) { return; }
    if (view.row[i] === view.root) { window.location.href = spanUrl(i); } else { load(view.row[i]); }
  });

  function neighbour(i, key) {
    var d = view.depth[i];
    var same = levels[d] || [];
    var at = same.indexOf(i);
    if (key === "ArrowLeft") { return at > 0 ? same[at - 1] : i; }
    if (key === "ArrowRight") { return at < same.length - 1 ? same[at + 1] : i; }
    var row = view.row[i];
    if (key === "ArrowUp") {
      for (var k = i - 1; k >= 0; k--) { if (view.depth[k] === d - 1 && view.row[k] < row) { return k; } }
      return i;
    }
    if (key === "ArrowDown") { return i + 1 < view.row.length && view.depth[i + 1] === d + 1 ? i + 1 : i; }
    return i;
  }

  canvas.addEventListener("keydown", function (event) {
    if (!view || !view.row.length) { return; }
    if (focus < 0) { focus = 0; }
    if (event.key.indexOf("Arrow") === 0) {
      setFocus(neighbour(focus, event.key));
    } else if (event.key === "Enter") {
      window.location.href = spanUrl(focus);
    } else if (event.key === "z" || event.key === " ") {
      load(view.row[focus]);
    } else if (event.key === "Escape") {
      load(-1);
    } else {
      return;
    }
    event.preventDefault();
  });

  canvas.addEventListener("focus", function () {
    if (view && view.row.length) { setFocus(focus < 0 ? 0 : focus); }
  });
  canvas.addEventListener("mouseleave", function () { if (document.activeElement !== canvas) { tip.hidden = true; } });
  reset.addEventListener("click", function () { load(-1); });
  var resized = null;
  window.addEventListener("resize", function () {
    clearTimeout(resized);
    resized = setTimeout(function () { if (view) { load(view.root, view.window); } }, 200);
  });
  // For tests and the benchmark: the shown view and a box's rectangle (CSS px).
  canvas.flame = {view: function () { return view; }, rect: rect, focus: function () { return focus; }};
  load(-1);
});
