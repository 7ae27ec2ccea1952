// The recovery codes, shown once ([data-recovery-codes]): Copy puts them on the clipboard,
// Download saves them as a text file, Print prints the page (the print style shows the codes
// alone). Each says what it did in the live region.
(function (R) {
  "use strict";
  R.on("[data-recovery-codes]", function (box) {
    var list = document.getElementById(box.dataset.recoveryCodes);
    var text = function () {
      var codes = Array.prototype.map.call(list.querySelectorAll("code"), function (c) {
        return c.textContent.trim();
      });
      return box.dataset.heading + "\n\n" + codes.join("\n") + "\n";
    };
    box.querySelector("[data-copy]").addEventListener("click", function () {
      navigator.clipboard.writeText(text()).then(
        function () { R.say({ kind: "success", text: "Recovery codes copied." }); },
        function () { R.say({ kind: "error", text: "Copying was refused: select the codes and copy them, or use Download." }); }
      );
    });
    box.querySelector("[data-download]").addEventListener("click", function () {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([text()], { type: "text/plain" }));
      link.download = box.dataset.filename;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
      R.say({ kind: "success", text: "Recovery codes downloaded as " + box.dataset.filename + "." });
    });
    box.querySelector("[data-print]").addEventListener("click", function () { window.print(); });
  });
})(Roster);
