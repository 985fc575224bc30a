// Zoom and pan of a C4 diagram with svg-pan-zoom (static/vendor): fitted to the width of its
// figure, dragged to pan, zoomed with buttons (data-zoom="in|out|fit" in `toolbar`), a double
// click or ctrl + wheel. explorerZoom(figure, toolbar, minTextPx) returns the svgPanZoom
// instance (null without the library); with minTextPx, the view starts zoomed in on the
// highlighted element (.c4-highlight) far enough for 9-point text to be that many pixels.
(function () {
  "use strict";
  window.explorerZoom = function (figure, toolbar, minTextPx) {
    var svg = figure && figure.querySelector("svg");
    if (!svg || !window.svgPanZoom || !svg.viewBox.baseVal || !svg.viewBox.baseVal.width) { return null; }
    var box = {width: svg.viewBox.baseVal.width, height: svg.viewBox.baseVal.height};  // the library removes it
    function fitHeight() {
      svg.style.width = "100%";
      svg.style.height = Math.round(figure.clientWidth * box.height / box.width) + "px";
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
    window.requestAnimationFrame(focus);  // after the library has drawn its first fit
    return panZoom;
  };
})();
