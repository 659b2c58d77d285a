// Behaviour every page shares, bound through data attributes (the Content-Security-Policy allows no inline
// script and no inline event handlers):
//   <form data-confirm="Delete this?">        asks before submitting; cancelling keeps the page as it was
//   <select data-autosubmit>                   submits its form when the choice changes
//   <element data-scroll-into-view>            is scrolled to the middle of the window on load
//   <element data-reload-page> (htmx swap)     reloads the page once htmx has swapped it in
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit();
    }
  });

  function onReady() {
    const target = document.querySelector("[data-scroll-into-view]");
    if (target) target.scrollIntoView({block: "center"});
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onReady);
  else onReady();

  document.addEventListener("htmx:load", function (event) {
    const element = event.detail && event.detail.elt;
    if (element instanceof Element && element.hasAttribute("data-reload-page")) window.location.reload();
  });
})();
