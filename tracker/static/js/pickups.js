// Pickup page helpers; every form works without them.
(function () {
  "use strict";

  // A second tap while the first is on its way would send the form twice (the server would
  // answer the first outcome again; this spares the wait).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    });
  });

  // "Not collected": the new day and slot matter only when the postman comes again.
  var form = document.querySelector("form[data-not-collected]");
  if (!form) return;
  var block = form.querySelector("[data-reschedule]");
  function update() {
    var close = form.querySelector("input[name=then][value=close]");
    block.hidden = Boolean(close && close.checked);
  }
  form.querySelectorAll("input[name=then]").forEach(function (radio) {
    radio.addEventListener("change", update);
  });
  update();
})();
