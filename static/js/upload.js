// Drag-and-drop upload of many files at once, one progress bar per file, through the REST API.
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input");
  const list = document.getElementById("upload-list");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let pending = 0;

  function refreshRows() {
    if (window.htmx) htmx.ajax("GET", form.dataset.rows + window.location.search, { target: "#document-rows", swap: "innerHTML" });
  }

  function uploadOne(file) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const note = document.createElement("span");
    note.className = "note muted";
    note.textContent = "uploading…";
    item.append(name, bar, note);
    list.prepend(item);

    const data = new FormData();
    data.append("file", file, file.name);
    data.append("workspace", form.dataset.workspace);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.api);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      bar.value = 100;
      if (xhr.status === 201 || xhr.status === 200) {
        item.className = xhr.status === 201 ? "ok" : "info";
        note.textContent = body.message || "uploaded";
      } else {
        item.className = "error";
        note.textContent = body.detail || ("Upload failed (HTTP " + xhr.status + ")");
      }
      done();
    };
    xhr.onerror = () => { item.className = "error"; note.textContent = "Network error: the upload did not reach the server."; done(); };
    pending += 1;
    xhr.send(data);
  }

  function done() {
    pending -= 1;
    if (pending === 0) refreshRows();
  }

  function uploadAll(files) { Array.from(files).forEach(uploadOne); }

  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach((t) => form.addEventListener(t, (e) => { e.preventDefault(); form.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => form.addEventListener(t, (e) => { e.preventDefault(); form.classList.remove("over"); }));
  form.addEventListener("drop", (e) => uploadAll(e.dataTransfer.files));
})();
