// Upload without leaving the page; the form still works without JavaScript (POST /upload).
(function () {
  "use strict";
  var form = document.getElementById("upload");
  var status = document.getElementById("upload-status");
  if (!form || !window.fetch || !window.FormData) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    status.textContent = "Uploading…";
    fetch("/api/documents", { method: "POST", body: new FormData(form) })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("upload failed: HTTP " + resp.status); }
        return resp.json();
      })
      .then(function () { window.location.reload(); })
      .catch(function (err) { status.textContent = err.message; });
  });
})();
