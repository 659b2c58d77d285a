// Chat page: send a question, read the answer as server-sent events from the API, render it live.
// Tokens are shown as plain text while streaming; the server's sanitized HTML replaces them at "done".
(function () {
  "use strict";
  const form = document.getElementById("composer");
  if (!form) return;
  const list = document.getElementById("messages");
  const status = document.getElementById("chat-status");
  const template = document.getElementById("answer-template");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  const textarea = form.querySelector("textarea");
  const button = form.querySelector("button[type=submit]");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function citationItem(messageId, c) {
    const li = el("li");
    li.id = "citation-" + messageId + "-" + c.marker;
    li.value = c.marker;
    const a = el("a", "", c.document_title + (c.page_start ? ", p. " + c.page_start + (c.page_end && c.page_end !== c.page_start ? "–" + c.page_end : "") : ""));
    a.href = "/chat/citations/" + c.id + "/";
    a.target = "_blank";
    a.rel = "noopener";
    li.appendChild(a);
    return li;
  }

  function finish(node, done) {
    node.dataset.message = done.id;
    node.querySelector(".answer").innerHTML = done.html; // sanitized on the server (nh3)
    const cites = node.querySelector(".citations");
    cites.replaceChildren(...done.citations.map(function (c) { return citationItem(done.id, c); }));
    node.querySelector(".provider").textContent =
      done.provider + (done.model ? " · " + done.model : "") + (done.fallback_used ? " · fallback" : "") + " · " + done.latency_ms + " ms";
    node.querySelector(".standalone").textContent = done.standalone_query;
    const retrieved = node.querySelector(".retrieved");
    retrieved.replaceChildren(...done.retrieved.map(function (r) {
      return el("li", "", r.document_title + " · score " + r.score.toFixed(4) +
        (r.bm25 ? " · BM25 #" + r.bm25.rank : "") + (r.vector ? " · vector #" + r.vector.rank + " (" + r.vector.score.toFixed(3) + ")" : ""));
    }));
  }

  async function ask(question) {
    const user = el("li", "msg user");
    user.appendChild(el("div", "bubble", question));
    list.appendChild(user);
    const node = template.content.firstElementChild.cloneNode(true);
    list.appendChild(node);
    const answer = node.querySelector(".answer");
    answer.textContent = "";
    button.disabled = true;
    status.textContent = "Searching your documents…";
    try {
      const response = await fetch(form.dataset.url, {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRFToken": csrf},
        body: JSON.stringify({content: question, stream: true}),
        credentials: "same-origin",
      });
      if (!response.ok) {
        const body = await response.json().catch(function () { return {detail: "The request failed (" + response.status + ")."}; });
        answer.textContent = body.detail;
        node.classList.add("error");
        status.textContent = "";
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const name = (frame.match(/^event: (.*)$/m) || [])[1];
          const data = (frame.match(/^data: (.*)$/m) || [])[1];
          if (!name || data === undefined) continue;
          const payload = JSON.parse(data);
          if (name === "token") { status.textContent = ""; answer.textContent += payload.text; }
          else if (name === "restart") { answer.textContent = ""; status.textContent = "A language model failed (" + payload.reason + "); restarting the answer…"; }
          else if (name === "done") { finish(node, payload); status.textContent = ""; }
          else if (name === "error") { answer.textContent = payload.detail; node.classList.add("error"); status.textContent = ""; }
        }
      }
    } catch (err) {
      answer.textContent = "The connection was lost before the answer finished. Please try again.";
      node.classList.add("error");
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const question = textarea.value.trim();
    if (!question) return;
    textarea.value = "";
    ask(question);
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  list.addEventListener("click", async function (event) {
    const target = event.target;
    const node = target.closest(".msg.assistant");
    if (!node) return;
    if (target.classList.contains("copy")) {
      await navigator.clipboard.writeText(node.querySelector(".answer").innerText).catch(function () {});
      status.textContent = "Copied.";
    } else if (target.classList.contains("regenerate")) {
      const previous = node.previousElementSibling;
      if (previous && previous.classList.contains("user")) ask(previous.innerText.trim());
    } else if (target.classList.contains("vote") && node.dataset.message) {
      const rating = Number(target.dataset.rating);
      const comment = rating < 0 ? (window.prompt("What was wrong with this answer? (optional)") || "") : "";
      const response = await fetch("/api/v1/messages/" + node.dataset.message + "/feedback/", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
        body: JSON.stringify({rating: rating, comment: comment}),
      });
      status.textContent = response.ok ? "Thanks for the feedback." : "Feedback could not be saved.";
      node.querySelectorAll(".vote").forEach(function (b) { b.classList.toggle("chosen", b === target); });
    }
  });
})();
