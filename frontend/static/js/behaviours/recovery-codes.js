// The recovery codes, shown once ([data-recovery-codes]: their text): Copy, or Print (the print
// style shows the codes alone). Download is a plain link.
(function (R) {
  "use strict";
  R.on("[data-recovery-codes]", function (box) {
    box.addEventListener("click", function (event) {
      var action = event.target.value;
      if (action === "print") print();
      if (action === "copy") navigator.clipboard.writeText(box.dataset.recoveryCodes).then(function () {
        R.say({ kind: "success", text: "Recovery codes copied." });
      });
    });
  });
})(Roster);
