// Generate ([data-generate-password=ID]) fills the password field ID with a strong random
// password and shows it; the field's meter then asks the server (no script of its own).
(function (R) {
  "use strict";
  var ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_!";
  R.on("[data-generate-password]", function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.generatePassword);
      var bytes = crypto.getRandomValues(new Uint32Array(20));
      var out = "";
      for (var i = 0; i < bytes.length; i++) out += ALPHABET[bytes[i] % ALPHABET.length];
      input.value = out;
      input.type = "text";
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.focus();
    });
  });
})(Roster);
