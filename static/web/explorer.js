// Small helpers for every explorer page (no inline scripts: CSP).
// Fragments that are expensive to compute load after the page: <div data-fragment-url="...">.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-fragment-url]").forEach(function (box) {
    box.setAttribute("aria-busy", "true");
    fetch(box.dataset.fragmentUrl, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* the link inside the box still works */ })
      .finally(function () { box.removeAttribute("aria-busy"); });
  });
});
