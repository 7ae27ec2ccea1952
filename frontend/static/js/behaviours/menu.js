// Menus (<details data-menu>): a click elsewhere, Esc, or focus leaving closes them (Esc puts
// focus back on the button). One whose panel is role="menu" (the account menu: menuitems, none
// in the tab order) is also a WAI-ARIA menu button: Enter, Space or Arrow Down opens it on its
// first item, Arrow Up on its last; inside, Arrow Down/Up move (round), Home/End go to the
// first/last item, Tab leaves it closed.
(function (R) {
  "use strict";
  function close(menu, focus) {
    menu.open = false;
    if (focus) menu.querySelector("summary").focus();
  }
  R.on("details[data-menu]", function (menu) {
    var summary = menu.querySelector("summary");
    var items = function () {
      return Array.prototype.slice.call(menu.querySelectorAll("[role=menu] [role=menuitem]"));
    };
    menu.addEventListener("keydown", function (event) {
      var all = items();
      var key = event.key;
      var at = all.indexOf(document.activeElement);
      var to = null;
      if (key === "Escape" && menu.open) { event.preventDefault(); close(menu, true); return; }
      if (!all.length) return;
      if (event.target === summary) {
        if (key === "ArrowDown" || key === "ArrowUp" || ((key === "Enter" || key === " ") && !menu.open)) {
          menu.open = true;
          to = key === "ArrowUp" ? all.length - 1 : 0;
        }
      } else if (at >= 0) {
        if (key === "ArrowDown") to = (at + 1) % all.length;
        else if (key === "ArrowUp") to = (at - 1 + all.length) % all.length;
        else if (key === "Home") to = 0;
        else if (key === "End") to = all.length - 1;
      }
      if (to !== null) { event.preventDefault(); all[to].focus(); }
    });
    menu.addEventListener("focusout", function (event) {
      if (menu.open && event.relatedTarget && !menu.contains(event.relatedTarget)) close(menu);
    });
  });
  // A click elsewhere on the page (page-wide by nature).
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) close(menu);
    });
  });
})(Roster);
