// Menus (<details data-menu>): a click elsewhere closes them; Esc closes them and puts focus
// back on their button. Both page-wide: Esc in a confirmation opened from a menu closes the
// menu too.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });
})();
