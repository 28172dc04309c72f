// holdmusic serve: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Drop a file anywhere on the upload form; refuse one over the server's cap before
  // sending it (the server refuses it anyway, with 413).
  for (const form of document.querySelectorAll("form.drop")) {
    const input = form.querySelector("input[type=file]");
    const tooBig = form.querySelector("[data-size-error]");
    const max = Number(form.dataset.maxBytes || 0);
    const sizeOk = () => {
      const f = input.files && input.files[0];
      const bad = Boolean(f && max && f.size > max);
      tooBig.classList.toggle("hidden", !bad);
      return !bad;
    };
    input.addEventListener("change", () => { if (sizeOk() && input.files.length) form.requestSubmit(); });
    form.addEventListener("submit", (e) => { if (!sizeOk()) e.preventDefault(); else busy(form); });
    for (const ev of ["dragenter", "dragover"]) {
      form.addEventListener(ev, (e) => { e.preventDefault(); form.classList.add("over"); });
    }
    for (const ev of ["dragleave", "drop"]) {
      form.addEventListener(ev, () => form.classList.remove("over"));
    }
    form.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        if (sizeOk()) form.requestSubmit();
      }
    });
  }

  // Buttons that start slow work say so, and cannot be pressed twice.
  for (const form of document.querySelectorAll("form")) {
    if (form.classList.contains("drop")) continue;
    form.addEventListener("submit", (e) => busy(form, e.submitter));
  }

  // Filter configs by name prefix as you type (the server applies ?prefix= too).
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.querySelector(input.dataset.filter);
    const apply = () => {
      for (const row of table.tBodies[0].rows) {
        if (row.dataset.name === undefined) continue;
        row.classList.toggle("hidden", !row.dataset.name.startsWith(input.value));
      }
    };
    input.addEventListener("input", apply);
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  }
  for (const box of document.querySelectorAll("input[data-check-all]")) {
    const table = document.querySelector(box.dataset.checkAll);
    box.addEventListener("change", () => {
      for (const row of table.tBodies[0].rows) {
        const c = row.querySelector("input[name=config]");
        if (c && !row.classList.contains("hidden")) c.checked = box.checked;
      }
    });
  }

  // A run's page: replace its content as the run goes, instead of reloading it.
  const run = document.querySelector("[data-run]");
  if (run && run.dataset.done === "no") {
    const refresh = document.querySelector("meta[http-equiv=refresh]");
    if (refresh) refresh.remove();
    const poll = async () => {
      const r = await fetch(location.pathname, { credentials: "same-origin" });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      document.querySelector("main").replaceWith(doc.querySelector("main"));
      const now = document.querySelector("[data-run]");
      if (now && now.dataset.done === "no") setTimeout(poll, 700);
    };
    setTimeout(poll, 700);
  }
});

function busy(form, submitter) {
  const button = submitter || form.querySelector("button[type=submit]");
  if (!button) return;
  if (button.dataset.busy) button.textContent = button.dataset.busy;
  // After the submit has been sent: disabling first would drop the button's formaction.
  setTimeout(() => { button.disabled = true; }, 0);
}
