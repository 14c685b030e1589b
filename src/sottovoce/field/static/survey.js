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

document.addEventListener("DOMContentLoaded", () => {
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
