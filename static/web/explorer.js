// Small helpers for every explorer page (no inline scripts: CSP).
// Fragments that are expensive to compute load after the page: <div data-fragment-url="...">.
// With data-refresh-s="N" the fragment is shown as rendered and read again every N seconds
// while the page is shown (the home page's order lists, which the live worker keeps current);
// a failed read leaves the last content and shows the section's [data-refresh-failed] note.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // The fragment's HTML; redirected means the session ended and this is the login page.
  function read(box) {
    box.setAttribute("aria-busy", "true");
    return fetch(box.dataset.fragmentUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok && !r.redirected ? r.text() : Promise.reject(r.status); })
      .finally(function () { box.removeAttribute("aria-busy"); });
  }

  function follow(box, seconds) {
    var failed = box.parentNode.querySelector("[data-refresh-failed]");
    var shown = null;  // the HTML last put in the box (the first read replaces the rendered)
    var timer = null;
    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(again, seconds * 1000);
    }
    function again() {
      if (document.hidden) { return; }  // read again when shown (visibilitychange)
      read(box)
        .then(function (html) {
          if (html !== shown) { box.innerHTML = html; shown = html; }
          if (failed) { failed.hidden = true; }
        })
        .catch(function () { if (failed) { failed.hidden = false; } })
        .finally(schedule);
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { again(); }
    });
    schedule();
  }

  document.querySelectorAll("[data-fragment-url]").forEach(function (box) {
    var seconds = Number(box.dataset.refreshS);
    if (seconds > 0) {
      follow(box, seconds);
    } else {
      read(box)
        .then(function (html) { box.innerHTML = html; })
        .catch(function () { /* the link inside the box still works */ });
    }
  });
});
