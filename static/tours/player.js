// The tour player: keyboard shortcuts (n / → next, p / ← previous) and answering a check
// for understanding by clicking an element of the diagram. No inline script: the CSP forbids it.
(function () {
  "use strict";
  var player = document.getElementById("tour-player");
  if (!player) { return; }
  if (window.explorerZoom) {  // zoomed in on the step's element: readable text in the panel
    window.explorerZoom(player.querySelector(".tour-figure"),
                        player.querySelector(".tour-diagram .diagram-toolbar"), 11);
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
      return;
    }
    var link = null;
    if (event.key === "n" || event.key === "ArrowRight") {
      link = document.getElementById("tour-next");
    } else if (event.key === "p" || event.key === "ArrowLeft") {
      link = document.getElementById("tour-previous");
    }
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });

  var form = document.getElementById("check");
  if (!form) { return; }
  var byElement = {};
  form.querySelectorAll("input[name=choice][data-element]").forEach(function (input) {
    if (input.dataset.element) { byElement[input.dataset.element] = input; }
  });
  player.querySelectorAll(".tour-diagram g.c4-element").forEach(function (node) {
    var input = byElement[node.id.replace(/^el-/, "")];
    if (!input) { return; }
    node.classList.add("tour-choice");
    node.addEventListener("click", function (event) {
      event.preventDefault();
      input.checked = true;
      form.requestSubmit ? form.requestSubmit() : form.submit();
    });
  });
})();
