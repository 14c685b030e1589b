// sottovoce survey page. Optional: every design except the virtual die works without it.
// Nothing is stored in the browser (no cookies, no localStorage/sessionStorage, no drafts), and the
// die result never leaves the page: it is not a form field.
"use strict";

function rollDie() {
  // Uniform face 1..6 from the browser's CSPRNG (rejection sampling avoids modulo bias).
  const buf = new Uint8Array(1);
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0] < 252) return (buf[0] % 6) + 1;
  }
}

function wipe() {
  // Leave nothing behind when the page goes away (submit, back, close).
  document.querySelectorAll(".die-face").forEach((el) => { el.textContent = ""; });
  const form = document.getElementById("survey");
  if (form) form.reset();
}

function currentValue(form, name) {
  // The form value (a zero-padded position) of an answer column: a checked radio, a select or a hidden field.
  const checked = form.querySelector('input[type=radio][name="' + name + '"]:checked');
  if (checked) return checked.value;
  const other = form.querySelector('select[name="' + name + '"], input[type=hidden][name="' + name + '"]');
  return other ? other.value : "";
}

function applySkips(form) {
  // Show a question only when the earlier answers it depends on allow it; a hidden question is sent
  // as "does not apply" (its pre-checked skip choice), so every form has the same fields and length.
  form.querySelectorAll("fieldset[data-ask-if]").forEach((box) => {
    const cond = JSON.parse(box.dataset.askIf);
    const show = Object.keys(cond).every((name) => cond[name].includes(currentValue(form, name)));
    const wasHidden = box.hidden;
    box.hidden = !show;
    box.querySelectorAll("[data-skip]").forEach((el) => {
      if (!show) {
        if (el.tagName === "OPTION") el.selected = true; else el.checked = true;
      } else if (wasHidden) {
        if (el.tagName === "OPTION") el.parentElement.value = ""; else el.checked = false;
      }
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("survey");
  if (form) {
    document.body.classList.add("js");  // hides the "does not apply" choices and the skip notes
    form.querySelectorAll("fieldset[data-ask-if]").forEach((box) => { box.hidden = true; });
    applySkips(form);
    form.addEventListener("change", () => applySkips(form));
  }
  document.querySelectorAll(".virtual-die").forEach((box) => {
    box.hidden = false;
    const out = box.querySelector(".die-face");
    const label = box.querySelector(".die-label").textContent;
    box.querySelector(".roll").addEventListener("click", () => {
      out.textContent = label + ": " + rollDie();
    });
  });
});
window.addEventListener("pagehide", wipe);
