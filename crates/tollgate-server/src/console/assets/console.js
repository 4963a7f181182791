// Tollgate console: small conveniences on top of pages that work without script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Editing a custom range's dates chooses the custom period.
  for (const input of document.querySelectorAll('.period input[type="date"]')) {
    input.addEventListener("change", () => {
      const custom = document.querySelector('.period input[value="custom"]');
      if (custom) custom.checked = true;
    });
  }
  // A button that must act once (signing a receipt) turns itself off when its form is sent.
  for (const button of document.querySelectorAll("button[data-once]")) {
    button.form?.addEventListener("submit", () => {
      button.disabled = true;
      button.textContent = button.dataset.once;
    });
  }
});
