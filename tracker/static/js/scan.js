// Batch scan: a scanner types a code and Enter. Without this script the codes go into the
// textarea one per line (Enter is a new line there). With it, a single input takes each scan:
// Enter adds the value to a visible list and clears the input instead of submitting the form,
// and the list is written back into the (hidden) textarea that the form sends.
(function () {
  "use strict";

  var form = document.getElementById("scan-form");
  var area = document.getElementById("codes");
  var holder = document.getElementById("scan-codes");
  // After a server error about the list, the textarea is shown as it was sent, error beside it.
  if (!form || !area || !holder || holder.querySelector(".has-error")) return;
  var text = JSON.parse(holder.getAttribute("data-texts") || "{}");

  var codes = area.value.split(/\r?\n/).map(function (line) { return line.trim(); })
    .filter(function (line) { return line !== ""; });
  var max = Number(holder.getAttribute("data-max")) || 500;

  var box = document.createElement("div");
  box.className = "field scanner";
  box.innerHTML =
    '<label for="scan-input"></label>' +
    '<p class="hint" id="scan-input-hint"></p>' +
    '<input id="scan-input" type="text" autocomplete="off" autocapitalize="characters"' +
    ' spellcheck="false" aria-describedby="scan-input-hint scan-notice">' +
    '<p class="scan-notice" id="scan-notice" aria-live="polite"></p>' +
    '<p><strong id="scan-count" aria-live="polite"></strong></p>' +
    '<ol class="scanned" id="scanned"></ol>';
  box.querySelector("label").textContent = text.label;
  box.querySelector(".hint").textContent = text.hint;
  holder.parentNode.insertBefore(box, holder);
  var input = box.querySelector("#scan-input");
  var notice = box.querySelector("#scan-notice");
  var count = box.querySelector("#scan-count");
  var list = box.querySelector("#scanned");
  // The textarea stays in the form (it is what is sent) but out of sight and out of the way.
  holder.hidden = true;

  function normalise(value) {
    return value.replace(/\s+/g, "").toUpperCase();
  }

  function render() {
    list.textContent = "";
    codes.forEach(function (code, index) {
      var item = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = code;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = text.remove;
      remove.setAttribute("aria-label", text.remove + " " + code);
      remove.addEventListener("click", function () {
        codes.splice(index, 1);
        render();
        input.focus();
      });
      item.appendChild(label);
      item.appendChild(remove);
      list.appendChild(item);
    });
    area.value = codes.join("\n");
    count.textContent = text.count.replace("{count}", String(codes.length));
  }

  function add(raw) {
    var code = normalise(raw);
    if (code === "") return;
    if (codes.indexOf(code) !== -1) {
      notice.textContent = text.duplicate.replace("{code}", code);
      return;
    }
    if (codes.length >= max) {
      notice.textContent = text.full;
      return;
    }
    codes.push(code);
    notice.textContent = "";
    render();
  }

  input.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    add(input.value);
    input.value = "";
  });
  // A value typed by hand and not yet added with Enter is sent with the others.
  form.addEventListener("submit", function () {
    if (input.value.trim() !== "") {
      add(input.value);
      input.value = "";
    }
  });

  render();
  if (!document.querySelector("[aria-invalid='true']")) input.focus();
})();
