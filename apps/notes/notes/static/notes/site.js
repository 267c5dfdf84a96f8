// Live word count under the note form (the worker computes the stored one).
document.addEventListener("DOMContentLoaded", () => {
  const body = document.querySelector("textarea[data-word-count]");
  const out = document.querySelector(".word-count");
  if (!body || !out) return;
  const update = () => {
    const words = body.value.split(/\s+/).filter(Boolean).length;
    out.hidden = false;
    out.textContent = `${words} word${words === 1 ? "" : "s"}`;
  };
  body.addEventListener("input", update);
});
