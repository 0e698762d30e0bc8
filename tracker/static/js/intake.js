// Intake page helpers; the form works without them (blank document rows are already there).
(function () {
  "use strict";

  var form = document.querySelector("form[data-intake]");
  if (!form) return;

  // The next control after `field` that a person can fill, in the form's order.
  function nextField(field) {
    var controls = Array.prototype.filter.call(form.elements, function (el) {
      return !el.disabled && el.type !== "hidden" && el.type !== "submit" &&
        el.tagName !== "FIELDSET" && el.offsetParent !== null;
    });
    var index = controls.indexOf(field);
    return index >= 0 ? controls[index + 1] : null;
  }

  // A barcode scanner types the item number then Enter: Enter must move on, not submit the
  // half-filled form. The server checks the number (S10 check digit); here it is only tidied.
  form.querySelectorAll("[data-scanner]").forEach(function (field) {
    field.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      field.value = field.value.replace(/\s+/g, "").toUpperCase();
      var next = nextField(field);
      if (next) next.focus();
    });
  });

  // A second click while the first is on its way would send the form twice.
  form.addEventListener("submit", function () {
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.disabled = true;
    });
  });

  // "Add a row" to the documents table: a copy of the last row, renumbered and emptied.
  var table = form.querySelector("table[data-rows]");
  if (!table) return;
  var body = table.tBodies[0];
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = table.getAttribute("data-add-label") || "+";
  button.className = "add-row";
  table.parentNode.insertAdjacentElement("afterend", button);

  function renumber(row, index) {
    row.querySelectorAll("[name]").forEach(function (el) {
      el.name = el.name.replace(/^documents\.\d+\./, "documents." + index + ".");
      el.id = el.name.replace(/\./g, "-");
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
      var label = el.getAttribute("aria-label");
      if (label) el.setAttribute("aria-label", label.replace(/\d+$/, String(index + 1)));
    });
    row.querySelectorAll(".field-errors").forEach(function (list) { list.remove(); });
    row.querySelectorAll(".has-error").forEach(function (cell) { cell.classList.remove("has-error"); });
    var number = row.querySelector("[data-number]");
    if (number) number.textContent = String(index + 1);
  }

  button.addEventListener("click", function () {
    var rows = body.querySelectorAll("tr[data-row]");
    if (rows.length >= 100) return;
    var copy = rows[rows.length - 1].cloneNode(true);
    renumber(copy, rows.length);
    copy.querySelectorAll("input").forEach(function (input) {
      input.value = input.classList.contains("count") ? "1" : "";
    });
    copy.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
    body.appendChild(copy);
    copy.querySelector("input").focus();
  });
})();
