// Chat page: send a question, read the answer as server-sent events from the API, show it live.
// Tokens are shown as plain text while streaming; at "done" the server's rendered answer (the same template as
// on page load, sanitized HTML) replaces the live node. URLs come from data attributes, never built here.
(function () {
  "use strict";
  const form = document.getElementById("composer");
  if (!form) return;
  const list = document.getElementById("messages");
  const status = document.getElementById("chat-status");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  const textarea = form.querySelector("textarea");
  const button = form.querySelector("button[type=submit]");

  function fromTemplate(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function fromHtml(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html; // rendered and sanitized on the server (Django templates + nh3)
    return holder.content.firstElementChild;
  }

  function fail(node, answer, text) {
    answer.textContent = text;
    node.classList.add("error");
    status.textContent = "";
  }

  function handle(state, name, payload) {
    if (name === "token") { status.textContent = ""; state.answer.textContent += payload.text; }
    else if (name === "restart") {
      state.answer.textContent = "";
      status.textContent = "A language model failed (" + payload.reason + "); restarting the answer…";
    } else if (name === "done") {
      const done = fromHtml(payload.fragment);
      state.node.replaceWith(done);
      state.node = done;
      status.textContent = "";
    } else if (name === "error") { fail(state.node, state.answer, payload.detail); }
  }

  async function readEvents(response, state) {
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
        if (name && data !== undefined) handle(state, name, JSON.parse(data));
      }
    }
  }

  async function ask(question) {
    const user = fromTemplate("question-template");
    user.querySelector(".bubble").textContent = question;
    list.appendChild(user);
    const node = fromTemplate("answer-template");
    list.appendChild(node);
    const state = {node: node, answer: node.querySelector(".answer")};
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
        fail(node, state.answer, body.detail);
        return;
      }
      await readEvents(response, state);
    } catch (err) {
      fail(state.node, state.answer, "The connection was lost before the answer finished. Please try again.");
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

  async function vote(node, target) {
    const rating = Number(target.dataset.rating);
    const comment = rating < 0 ? (window.prompt("What was wrong with this answer? (optional)") || "") : "";
    const response = await fetch(node.dataset.feedbackUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({rating: rating, comment: comment}),
    });
    status.textContent = response.ok ? "Thanks for the feedback." : "Feedback could not be saved.";
    node.querySelectorAll(".vote").forEach(function (b) { b.classList.toggle("chosen", b === target); });
  }

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
    } else if (target.classList.contains("vote") && node.dataset.feedbackUrl) {
      vote(node, target);
    }
  });
})();
