// Result charts (explorer/web/result_charts.py) and charts over time (trend_charts.py): a
// mark's text shows when the keyboard focuses it; for the mouse, the scatter plot's marks have
// an SVG title and the trend charts' show the same tip on hover (their marks carry no title:
// it doubled the page's size). The text is trace data: set as text, never as HTML.
(function () {
  "use strict";
  var tip = document.getElementById("chart-tip");
  if (!tip) { return; }
  function show(mark) {
    tip.textContent = mark.getAttribute("aria-label");
    tip.hidden = false;
    var box = mark.getBoundingClientRect();
    var width = document.documentElement.clientWidth;
    var left = Math.min(Math.max(box.left + box.width / 2 - tip.offsetWidth / 2, 4), width - tip.offsetWidth - 4);
    tip.style.left = Math.max(left, 0) + "px";
    tip.style.top = (box.top - tip.offsetHeight - 6 < 0 ? box.bottom + 6 : box.top - tip.offsetHeight - 6) + "px";
  }
  function hide() { tip.hidden = true; }
  var MARKS = "svg.scatter a.point, svg.trend a.point";
  function focused() {
    var active = document.activeElement;
    return active && active.closest ? active.closest(MARKS) : null;
  }
  document.addEventListener("focusin", function () {
    var mark = focused();
    if (mark) { show(mark); } else { hide(); }
  });
  document.addEventListener("focusout", hide);
  var hovered = null;
  document.addEventListener("mouseover", function (event) {
    hovered = event.target.closest ? event.target.closest("svg.trend a.point") : null;
    var mark = hovered || focused();
    if (mark) { show(mark); } else { hide(); }
  });
  // Focus or hover may scroll the mark into view: the tip follows it rather than vanishing.
  window.addEventListener("scroll", function () {
    var mark = focused() || hovered;
    if (mark) { show(mark); } else { hide(); }
  }, {passive: true});
})();
