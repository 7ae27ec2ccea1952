// The recovery codes, shown once ([data-recovery-codes]: their text): Copy, or Print (the print
// style shows the codes alone). Download is a plain link. Loaded by the page that shows the
// codes, not in app.js; htmx runs it again at each swap of that part, hence `R.codes`.
(function (R) {
  "use strict";
  if (R.codes) return;
  R.codes = true;
  R.on("[data-recovery-codes]", function (box) {
    box.addEventListener("click", function (event) {
      var action = event.target.value;
      if (action === "print") print();
      if (action === "copy") navigator.clipboard.writeText(box.dataset.recoveryCodes).then(function () {
        R.say({ kind: "success", text: R.t("codesCopied") });
      });
    });
  });
})(Roster);
