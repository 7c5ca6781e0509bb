// dockyard web interface: copy buttons (the only script; pages work without it).
"use strict";

function announce(text) {
  const status = document.getElementById("copy-status");
  if (status) status.textContent = text;
}

function copyFallback(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let copied = false;
  try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
  document.body.removeChild(area);
  return copied;
}

async function copy(button) {
  const text = button.dataset.copy || "";
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); copied = true; } catch (e) { copied = false; }
  }
  if (!copied) copied = copyFallback(text);
  button.textContent = copied ? "Copied" : "Copy failed";
  button.classList.toggle("copied", copied);
  announce(copied ? "Copied to the clipboard" : "Could not copy; select the text instead");
  setTimeout(() => { button.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (button) copy(button);
});
