// The journey diagram of the order page and of the tour player: the overview and the detailed
// diagram ("details"), zoom and pan (svg-pan-zoom), step-by-step playback (buttons, slider,
// speed, keys, ?step=N or #step-N) that pans the picture to the current step, a relationship's
// calls on click, and the comparison with typical orders. No inline script (the CSP forbids
// it): the steps come from the data- attributes of the list of calls the server wrote.
(function () {
  "use strict";
  var section = document.getElementById("journey");
  var figure = document.getElementById("journey-figure");
  var svg = figure && figure.querySelector("svg");
  if (!section || !svg) { return; }

  function byId(id) { return id ? svg.getElementById(id) : null; }
  var toolbar = section.querySelector(".diagram-toolbar");
  var bar = section.querySelector(".playback-bar");
  var hint = section.querySelector(".zoom-hint");

  // ---- the pictures: the overview (if any) and the detailed diagram ----
  // readable: px per unit at which the picture's smallest text is 11 px (9 and 11 points)
  var details = {figure: figure, svg: svg, prefix: "", readable: 11 / 9, zoom: null};
  var overviewFigure = document.getElementById("journey-overview");
  var overviewSvg = overviewFigure && overviewFigure.querySelector("svg");
  var overview = overviewSvg ? {figure: overviewFigure, svg: overviewSvg, prefix: "ov-", readable: 1, zoom: null} : null;
  var pictures = overview ? [overview, details] : [details];
  var shown = pictures[0];

  function room() {  // the height a picture may take: the screen less its toolbar and controls
    var taken = (bar ? bar.offsetHeight : 0) + (toolbar ? toolbar.offsetHeight : 0);
    return Math.max(240, window.innerHeight - taken - 32);
  }
  function zoomOf(picture) {
    if (!picture.zoom && window.explorerZoom) {
      picture.zoom = window.explorerZoom(picture.figure, null, 0, {
        maxHeight: room, readable: picture.readable, onRefit: function () { showPosition(); }
      });
    }
    return picture.zoom;
  }
  function fitsReadably(picture) {
    var zoom = picture.zoom;
    if (!zoom) { return true; }
    var sizes = zoom.getSizes();
    return sizes.realZoom / zoom.getZoom() >= picture.readable - 1e-6;
  }
  function choose(picture) {
    shown = picture;
    pictures.forEach(function (p) { p.figure.hidden = p !== picture; });
    if (toolbar) {
      toolbar.querySelectorAll("button[data-level]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b.dataset.level === (picture === details ? "details" : "overview")));
      });
    }
    var zoom = zoomOf(picture);
    var readable = fitsReadably(picture);
    if (hint) { hint.hidden = readable; }
    if (!readable && window.explorerShow) {  // too small to read whole: readable, where it is now
      var stops = picture.svg.querySelectorAll(".journey-stop");
      var touched = picture.svg.querySelectorAll(".ov-element:not(.c4-dimmed)");
      window.explorerShow(zoom, picture.svg, Array.prototype.slice.call(stops.length ? stops : touched),
                          picture.readable);
    }
  }
  if (toolbar) {
    toolbar.hidden = false;
    var levels = toolbar.querySelector(".journey-levels");
    if (levels) { levels.hidden = !overview; }
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) { return; }
      if (button.dataset.level) {
        choose(button.dataset.level === "details" ? details : overview);
        showPosition();
        return;
      }
      var zoom = zoomOf(shown);
      if (!zoom || !button.dataset.zoom) { return; }
      if (button.dataset.zoom === "in") { zoom.zoomBy(1.3); }
      else if (button.dataset.zoom === "out") { zoom.zoomBy(1 / 1.3); }
      else { zoom.explorerReset(); }
    });
  }

  // ---- the calls of a relationship, on click ----
  var list = document.getElementById("step-list");
  var filter = document.getElementById("steps-filter");
  function showOnly(numbers, label) {
    if (!list) { return; }
    list.querySelectorAll("li").forEach(function (li) {
      li.hidden = numbers !== null && numbers.indexOf(li.dataset.n) < 0;
    });
    if (filter) {
      filter.hidden = numbers === null;
      filter.querySelector("span").textContent = label || "";
    }
  }
  var clear = document.getElementById("steps-filter-clear");
  if (clear) { clear.addEventListener("click", function () { showOnly(null); }); }

  var steps = [];
  if (list) {
    list.querySelectorAll("li[data-n]").forEach(function (li) {
      steps.push({n: li.dataset.n, sentence: li.dataset.sentence, state: li.dataset.state,
                  stop: li.dataset.stop, source: li.dataset.source, target: li.dataset.target,
                  route: li.dataset.route});
    });
  }
  var byNumber = {};
  steps.forEach(function (s) { byNumber[String(s.n)] = s; });
  var edges = {};
  svg.querySelectorAll("g[data-steps]").forEach(function (g) {
    g.dataset.steps.split(" ").forEach(function (n) { edges[n] = g; });
    g.addEventListener("click", function (event) {
      event.preventDefault();  // without script the link opens the first call's span
      var numbers = g.dataset.steps.split(" ");
      var first = byNumber[numbers[0]];
      var label = first ? first.route + ": " + numbers.length : "";
      showOnly(numbers, label);
      var panel = document.getElementById("steps-panel");
      if (panel) { panel.open = true; }
      if (filter) { filter.scrollIntoView({block: "nearest"}); }
    });
  });
  if (overviewSvg) {  // a hop of the overview lists its calls too
    overviewSvg.querySelectorAll("g.ov-hop").forEach(function (g) {
      var numbers = steps.filter(function (s) { return !s.stop && g.id === "ov-" + s.source + "--" + s.target; })
        .map(function (s) { return String(s.n); });
      if (!numbers.length) { return; }
      g.addEventListener("click", function () {
        showOnly(numbers, byNumber[numbers[0]].route + ": " + numbers.length);
        var panel = document.getElementById("steps-panel");
        if (panel) { panel.open = true; }
        if (filter) { filter.scrollIntoView({block: "nearest"}); }
      });
    });
  }
  function overviewOf(step) {  // the overview's marks of a step: its hop and its two ends
    if (!overview || !step || step.stop) { return []; }
    return [overviewSvg.getElementById("ov-" + step.source + "--" + step.target),
            overviewSvg.getElementById("ov-" + step.source), overviewSvg.getElementById("ov-" + step.target)];
  }

  // ---- playback ----
  var slider = document.getElementById("pb-slider");
  var sentence = document.getElementById("pb-sentence");
  var count = document.getElementById("pb-count");
  var play = document.getElementById("pb-play");
  var speed = document.getElementById("pb-speed");
  var total = steps.length;
  var position = total;
  // the last entry lit as a step ("Where it is now"), not the whole journey (the last step
  // otherwise: every call, the stop marked)
  var atStop = false;
  var timer = null;
  var states = document.querySelectorAll(".state-graph li[data-state]");
  var marked = [];
  var current = null;

  function mark(node, name) {
    if (node) { node.classList.add(name); marked.push([node, name]); }
  }
  function litNodes(picture) {  // what the current step lights on a picture, its call first
    var lit = Array.prototype.slice.call(picture.svg.querySelectorAll(".pb-current"));
    return lit.filter(function (n) { return n.matches(".edge"); })
      .concat(lit.filter(function (n) { return !n.matches(".edge"); }));
  }
  function showPosition() {  // the lit step (the whole journey: its stop) in view, panned to it
    var whole = position >= total && !atStop;
    var nodes = whole ? Array.prototype.slice.call(shown.svg.querySelectorAll(".journey-stop"))
                      : litNodes(shown);
    if (!current || !nodes.length) { return; }
    // the picture itself (not its caption) on screen, its bottom above the sticky controls;
    // the window scrolls, not the figure (scrollIntoView would scroll its overflow too)
    var frame = shown.svg.getBoundingClientRect();
    var bottom = window.innerHeight - (bar ? bar.offsetHeight + 8 : 0);
    if (frame.top < 0 || frame.bottom > bottom) {
      window.scrollBy(0, frame.top < 0 ? frame.top - 8 : Math.min(frame.top - 8, frame.bottom - bottom));
    }
    if (zoomOf(shown) && window.explorerShow) {
      window.explorerShow(shown.zoom, shown.svg, nodes, shown.readable);
    }
  }
  function scrollList(item) {  // the list scrolls itself, never the page
    if (!list || !item) { return; }
    var top = item.offsetTop;
    if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 2);
    }
  }
  function show(k, stopLit) {
    position = Math.max(0, Math.min(total, k));
    atStop = Boolean(stopLit) && position === total;
    marked.forEach(function (m) { m[0].classList.remove(m[1]); });
    marked = [];
    var whole = position >= total && !atStop;
    pictures.forEach(function (p) { p.svg.classList.toggle("pb-active", !whole); });
    current = position > 0 ? steps[position - 1] : null;
    if (!whole) {
      steps.slice(0, position).forEach(function (s) {
        mark(edges[String(s.n)], "pb-seen");
        mark(overviewOf(s)[0], "pb-seen");
      });
      if (current && current.stop) {
        pictures.forEach(function (p) {
          p.svg.querySelectorAll(".journey-stop").forEach(function (n) { mark(n, "pb-current"); });
        });
      } else if (current) {
        mark(edges[String(current.n)], "pb-current");
        mark(byId(current.source), "pb-current");
        mark(byId(current.target), "pb-current");
        overviewOf(current).forEach(function (n) { mark(n, "pb-current"); });
      }
    }
    states.forEach(function (li) {
      li.classList.toggle("pb-state", !whole && current !== null && li.dataset.state === current.state);
    });
    if (list) {
      list.querySelectorAll("li.pb-current").forEach(function (li) { li.classList.remove("pb-current"); });
      var item = current && document.getElementById("step-" + current.n);
      if (item && !whole) { item.classList.add("pb-current"); scrollList(item); }
    }
    if (slider) { slider.value = String(position); slider.setAttribute("aria-valuetext", position + " / " + total); }
    if (count) { count.textContent = position + " / " + total; }
    if (sentence && current) { sentence.textContent = position + ". " + current.sentence; }
    if (history.replaceState && !whole) { history.replaceState(null, "", "#step-" + position); }
    showPosition();
  }

  var SPEED_KEY = "explorer.playback.speed";
  function interval() {  // 1.4 s a step at 1×
    var factor = speed ? parseFloat(speed.value) : 1;
    return Math.round(1400 / (factor > 0 ? factor : 1));
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    if (play) { play.textContent = "▶"; play.setAttribute("aria-label", play.dataset.play); play.setAttribute("aria-pressed", "false"); }
  }
  function start() {
    if (position >= total) { show(0); }
    var every = interval();
    play.dataset.interval = String(every);
    timer = setInterval(function () {
      if (position >= total) { stop(); return; }
      show(position + 1);
    }, every);
    play.textContent = "❚❚";
    play.setAttribute("aria-label", play.dataset.pause);
    play.setAttribute("aria-pressed", "true");
  }
  function toggle() { if (timer) { stop(); } else { start(); } }

  var controls = section.querySelector(".playback");
  if (controls && total) {
    controls.hidden = false;
    play.setAttribute("aria-pressed", "false");
    document.getElementById("pb-first").addEventListener("click", function () { stop(); show(1); });
    document.getElementById("pb-prev").addEventListener("click", function () { stop(); show(position - 1); });
    document.getElementById("pb-next").addEventListener("click", function () { stop(); show(position + 1); });
    document.getElementById("pb-all").addEventListener("click", function () { stop(); show(total); });
    var toStop = document.getElementById("pb-stop");
    if (toStop) { toStop.addEventListener("click", function () { stop(); show(total, true); }); }
    play.addEventListener("click", toggle);
    slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
    if (speed) {
      try {
        var kept = window.localStorage.getItem(SPEED_KEY);
        if (kept && speed.querySelector('option[value="' + kept + '"]')) { speed.value = kept; }
      } catch (e) { /* no storage: the default speed */ }
      play.dataset.interval = String(interval());
      speed.addEventListener("change", function () {
        try { window.localStorage.setItem(SPEED_KEY, speed.value); } catch (e) { /* not kept */ }
        play.dataset.interval = String(interval());
        if (timer) { clearInterval(timer); timer = null; start(); }
      });
    }
    document.addEventListener("keydown", function (event) {
      var tag = event.target && event.target.tagName;
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey ||
          tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
      // in a tour the arrows go through the tour's steps unless the journey has the focus
      if (section.hasAttribute("data-keys-inside") && !section.contains(event.target)) { return; }
      if (event.key === "ArrowRight") { stop(); show(position + 1); }
      else if (event.key === "ArrowLeft") { stop(); show(position - 1); }
      else if (event.key === "k") { toggle(); }
      else { return; }
      event.preventDefault();
    });
  }
  choose(shown);
  if (controls && total) {
    var match = /^#step-(\d+)$/.exec(window.location.hash);
    var wanted = match ? parseInt(match[1], 10) : parseInt(section.dataset.startStep || "", 10);
    if (!isNaN(wanted)) { show(wanted); }
  }

  // ---- compared with typical orders of the same type (on the detailed diagram) ----
  var toggleTypical = document.getElementById("typical-toggle");
  var differences = [];
  document.querySelectorAll("#typical-differences li[data-kind]").forEach(function (li) {
    differences.push({kind: li.dataset.kind, element: li.dataset.element,
                      steps: li.dataset.steps ? li.dataset.steps.split(" ") : []});
  });
  if (toggleTypical) {
    toggleTypical.addEventListener("change", function () {
      var on = toggleTypical.checked;
      if (on && overview) { choose(details); }
      svg.classList.toggle("show-typical", on);
      var panel = document.getElementById("typical-differences");
      if (panel) { panel.hidden = !on; }
      differences.forEach(function (d) {
        d.steps.forEach(function (n) { var g = edges[String(n)]; if (g) { g.classList.toggle("diff-" + d.kind, on); } });
        if (!d.steps.length) { var el = byId(d.element); if (el) { el.classList.toggle("diff-" + d.kind, on); } }
      });
    });
  }
})();
