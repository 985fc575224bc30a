// The alerts page: acknowledging asks first (the form's data-confirm, translated by the
// template). No inline script: the CSP forbids it.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
