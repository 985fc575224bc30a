// Zoom and pan of a C4 diagram with svg-pan-zoom (static/vendor): fitted to the width of its
// figure, dragged to pan, zoomed with buttons (data-zoom="in|out|fit" in `toolbar`), a double
// click or ctrl + wheel. explorerZoom(figure, toolbar, minTextPx, options) returns the
// svgPanZoom instance (null without the library); with minTextPx, the view starts zoomed in on
// the highlighted element (.c4-highlight) far enough for 9-point text to be that many pixels.
// options.maxHeight() caps the figure's height (the order page keeps the picture and its
// controls on one screen); options.readable (px per unit at which its smallest text is
// readable) then lets a narrow figure grow up to the height that shows it readable.
// explorerShow(panZoom, svg, nodes, readable) zooms (to `readable`, or up to 1.5 times that if
// the nodes fit) and pans so that the nodes are in the middle of the view; if they do not fit at
// that zoom, the first of them is in the middle, zoomed out until it fits (a long call). A picture
// readable whole stays fitted (it is fitted again if it was moved off the nodes).
(function () {
  "use strict";
  window.explorerZoom = function (figure, toolbar, minTextPx, options) {
    var svg = figure && figure.querySelector("svg");
    if (!svg || !window.svgPanZoom || !svg.viewBox.baseVal || !svg.viewBox.baseVal.width) { return null; }
    options = options || {};
    var box = {width: svg.viewBox.baseVal.width, height: svg.viewBox.baseVal.height};  // the library removes it
    function fitHeight() {
      var height = figure.clientWidth * box.height / box.width;
      if (options.maxHeight) {
        var readable = box.height * (options.readable || 0);
        height = Math.min(options.maxHeight(), Math.max(height, readable));
      }
      svg.style.width = "100%";
      svg.style.height = Math.round(height) + "px";
    }
    svg.style.overflow = "hidden";  // CSSOM, so the library need not set a style attribute (CSP)
    fitHeight();
    var panZoom = window.svgPanZoom(svg, {
      zoomEnabled: true, controlIconsEnabled: false, fit: true, center: true,
      mouseWheelZoomEnabled: false, dblClickZoomEnabled: true, minZoom: 0.5, maxZoom: 10
    });
    function focus() {
      var target = svg.querySelector(".c4-highlight");
      var shown = svg.getBoundingClientRect().width / box.width;  // px per point when fitted
      var scale = minTextPx ? 1.05 * minTextPx / (9 * shown) : 1;
      if (!target || scale <= 1) { return; }
      var frame = svg.getBoundingClientRect();
      var rect = target.getBoundingClientRect();
      var point = {x: rect.left + rect.width / 2 - frame.left, y: rect.top + rect.height / 2 - frame.top};
      panZoom.zoomAtPointBy(scale, point);
      panZoom.panBy({x: frame.width / 2 - point.x, y: Math.min(frame.height, 600) / 2 - point.y});
    }
    function reset() { panZoom.resetZoom(); panZoom.fit(); panZoom.center(); }
    svg.addEventListener("wheel", function (event) {
      if (!event.ctrlKey) { return; }
      event.preventDefault();
      var rect = svg.getBoundingClientRect();
      panZoom.zoomAtPointBy(event.deltaY < 0 ? 1.2 : 1 / 1.2,
                            {x: event.clientX - rect.left, y: event.clientY - rect.top});
    }, {passive: false});
    var fittedTo = figure.clientWidth;
    window.addEventListener("resize", function () {
      // only a new width refits (a screenshot or a mobile toolbar changes the height alone)
      if (!figure.clientWidth || figure.clientWidth === fittedTo) { return; }
      fittedTo = figure.clientWidth;
      fitHeight(); panZoom.resize(); reset();
      if (options.onRefit) { options.onRefit(); }
    });
    if (toolbar) {
      toolbar.hidden = false;
      toolbar.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-zoom]");
        if (!button) { return; }
        var how = button.dataset.zoom;
        if (how === "in") { panZoom.zoomBy(1.3); }
        else if (how === "out") { panZoom.zoomBy(1 / 1.3); }
        else { reset(); }
      });
    }
    panZoom.explorerReset = reset;
    window.requestAnimationFrame(focus);  // after the library has drawn its first fit
    return panZoom;
  };

  window.explorerShow = function (panZoom, svg, nodes, readable) {
    var viewport = svg.querySelector(".svg-pan-zoom_viewport");
    if (!panZoom || !viewport) { return; }
    var toViewport = viewport.getScreenCTM().inverse();
    function boxOf(some) {
      var box = null;
      some.forEach(function (node) {
        if (!node || !node.getBBox) { return; }
        var b = node.getBBox();
        if (!b.width && !b.height) { return; }
        var m = toViewport.multiply(node.getScreenCTM());  // node -> viewport units, pan aside
        [[b.x, b.y], [b.x + b.width, b.y + b.height]].forEach(function (p) {
          var x = m.a * p[0] + m.c * p[1] + m.e, y = m.b * p[0] + m.d * p[1] + m.f;
          box = box ? {l: Math.min(box.l, x), t: Math.min(box.t, y), r: Math.max(box.r, x), b: Math.max(box.b, y)}
                    : {l: x, t: y, r: x, b: y};
        });
      });
      return box;
    }
    var sizes = panZoom.getSizes();
    var margin = 24;
    function fits(box) {
      return Math.min((sizes.width - 2 * margin) / Math.max(box.r - box.l, 1),
                      (sizes.height - 2 * margin) / Math.max(box.b - box.t, 1));
    }
    var box = boxOf(nodes);
    if (!box) { return; }
    var base = sizes.realZoom / panZoom.getZoom();  // px per unit when fitted
    if (base >= readable) {  // the whole picture is readable: fitted, unless moved off the step
      var now = sizes.realZoom, pan = panZoom.getPan();
      if (box.l * now + pan.x < 0 || box.r * now + pan.x > sizes.width ||
          box.t * now + pan.y < 0 || box.b * now + pan.y > sizes.height) {
        panZoom.resetZoom(); panZoom.fit(); panZoom.center();
      }
      return;
    }
    var scale;
    if (fits(box) >= readable) { scale = Math.min(fits(box), 1.5 * readable); }
    else {  // not all readable at once: the first one (the call), smaller if it is larger than the view
      box = boxOf(nodes.slice(0, 1)) || box;
      scale = Math.max(base, Math.min(readable, fits(box)));
    }
    panZoom.zoom(scale / base);
    var zoom = panZoom.getSizes().realZoom;
    panZoom.pan({x: sizes.width / 2 - (box.l + box.r) / 2 * zoom,
                 y: sizes.height / 2 - (box.t + box.b) / 2 * zoom});
  };
})();
