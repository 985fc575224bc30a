// The journey diagram of the order page and of the tour player: zoom and pan (svg-pan-zoom),
// step-by-step playback (buttons, slider, keys, ?step=N or #step-N), a relationship's calls on
// click, and the comparison with typical orders. No inline script (the CSP forbids it): the steps come from
// the data- attributes of the list of calls the server wrote.
(function () {
  "use strict";
  var section = document.getElementById("journey");
  var figure = document.getElementById("journey-figure");
  var svg = figure && figure.querySelector("svg");
  if (!section || !svg) { return; }

  function byId(id) { return id ? svg.getElementById(id) : null; }

  // ---- zoom and pan (static/web/diagram-zoom.js) ----
  if (window.explorerZoom) { window.explorerZoom(figure, section.querySelector(".diagram-toolbar")); }

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

  // ---- playback ----
  var slider = document.getElementById("pb-slider");
  var sentence = document.getElementById("pb-sentence");
  var count = document.getElementById("pb-count");
  var play = document.getElementById("pb-play");
  var total = steps.length;
  var position = total;
  var timer = null;
  var states = document.querySelectorAll(".state-graph li[data-state]");
  var marked = [];

  function mark(node, name) {
    if (node) { node.classList.add(name); marked.push([node, name]); }
  }
  function show(k) {
    position = Math.max(0, Math.min(total, k));
    marked.forEach(function (m) { m[0].classList.remove(m[1]); });
    marked = [];
    var whole = position >= total;
    svg.classList.toggle("pb-active", !whole);
    var current = position > 0 ? steps[position - 1] : null;
    if (!whole) {
      steps.slice(0, position).forEach(function (s) { mark(edges[String(s.n)], "pb-seen"); });
      if (current && current.stop) {
        svg.querySelectorAll(".journey-stop").forEach(function (n) { mark(n, "pb-current"); });
      } else if (current) {
        mark(edges[String(current.n)], "pb-current");
        mark(byId(current.source), "pb-current");
        mark(byId(current.target), "pb-current");
      }
    }
    states.forEach(function (li) {
      li.classList.toggle("pb-state", !whole && current !== null && li.dataset.state === current.state);
    });
    if (list) {
      list.querySelectorAll("li.pb-current").forEach(function (li) { li.classList.remove("pb-current"); });
      var item = current && document.getElementById("step-" + current.n);
      if (item && !whole) { item.classList.add("pb-current"); }
    }
    if (slider) { slider.value = String(position); slider.setAttribute("aria-valuetext", position + " / " + total); }
    if (count) { count.textContent = position + " / " + total; }
    if (sentence && current) { sentence.textContent = position + ". " + current.sentence; }
    if (history.replaceState && !whole) { history.replaceState(null, "", "#step-" + position); }
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    if (play) { play.textContent = "▶"; play.setAttribute("aria-label", play.dataset.play); play.setAttribute("aria-pressed", "false"); }
  }
  function start() {
    if (position >= total) { show(0); }
    timer = setInterval(function () {
      if (position >= total) { stop(); return; }
      show(position + 1);
    }, 1400);
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
    play.addEventListener("click", toggle);
    slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
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
    var match = /^#step-(\d+)$/.exec(window.location.hash);
    var wanted = match ? parseInt(match[1], 10) : parseInt(section.dataset.startStep || "", 10);
    if (!isNaN(wanted)) { show(wanted); }
  }

  // ---- compared with typical orders of the same type ----
  var toggleTypical = document.getElementById("typical-toggle");
  var differences = [];
  document.querySelectorAll("#typical-differences li[data-kind]").forEach(function (li) {
    differences.push({kind: li.dataset.kind, element: li.dataset.element,
                      steps: li.dataset.steps ? li.dataset.steps.split(" ") : []});
  });
  if (toggleTypical) {
    toggleTypical.addEventListener("change", function () {
      var on = toggleTypical.checked;
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
