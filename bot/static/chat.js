/*
 * Web chat client for the administrative-procedure assistant.
 *
 * Talks to the bot app's JSON API:
 *   POST /api/messages                          -> {"replies": [{text, buttons}]}
 *   GET  /api/conversations/{id}/messages[?after] -> {"messages": [{direction, text, buttons, created_at}]}
 *
 * Message text is always inserted with text nodes (never innerHTML); only
 * http(s) links are turned into <a> elements, built node by node.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "tthc.conversationId";
  var REQUEST_TIMEOUT_MS = 15000;
  var POLL_INTERVAL_MS = 5000;
  var GREET_PAYLOAD = "/greet";
  var TEXT = {
    sendFailed: "Không gửi được tin nhắn. Bạn kiểm tra kết nối và thử lại nhé.",
    loadFailed: "Không tải được cuộc trò chuyện. Trang sẽ tự thử lại sau ít giây.",
  };
  var URL_PATTERN = /https?:\/\/[^\s<>"'`]+/g;
  var URL_TRAILING_PUNCTUATION = /[.,;:!?)\]}…]+$/;
  // Intent payloads ("/greet", "/ask_fee{...}") sent without a title are not shown.
  var PAYLOAD_PATTERN = /^\/[A-Za-z_][\w-]*(\{[\s\S]*\})?$/;

  var dom = {};
  var state = {
    conversationId: null,
    lastCreatedAt: null,
    historyLoaded: false,
    sending: false,
    polling: false,
    // Messages rendered locally that the server history has not confirmed yet.
    pending: [],
    // Bumped whenever a send starts or the conversation restarts, so that
    // poll results computed before that moment are discarded.
    generation: 0,
  };

  /* ---------- conversation id ---------- */

  function randomUuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function readStoredId() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (e) {
      return null;
    }
  }

  function storeId(id) {
    try {
      window.localStorage.setItem(STORAGE_KEY, id);
    } catch (e) {
      /* Private mode: the conversation lasts as long as the page. */
    }
  }

  function startNewConversationId() {
    state.conversationId = randomUuid();
    storeId(state.conversationId);
  }

  /* ---------- HTTP ---------- */

  function requestJson(method, url, body) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) controller.abort();
    }, REQUEST_TIMEOUT_MS);
    var options = {
      method: method,
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options)
      .then(function (response) {
        return response.json().catch(function () {
          return null;
        }).then(function (data) {
          if (!response.ok) {
            var error = new Error("HTTP " + response.status);
            error.userMessage = data && typeof data.error === "string" ? data.error : null;
            throw error;
          }
          return data || {};
        });
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  function historyUrl(after) {
    var url = "/api/conversations/" + encodeURIComponent(state.conversationId) + "/messages";
    return after ? url + "?after=" + encodeURIComponent(after) : url;
  }

  /* ---------- rendering ---------- */

  function appendLinkifiedText(parent, text) {
    var last = 0;
    var match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      var url = match[0].replace(URL_TRAILING_PUNCTUATION, "");
      if (!url || url.length <= "https://".length) continue;
      parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = url;
      parent.appendChild(link);
      last = match.index + url.length;
      URL_PATTERN.lastIndex = last;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function buildButtons(buttons) {
    var box = document.createElement("div");
    box.className = "msg__buttons";
    buttons.forEach(function (button) {
      if (!button || !button.title || !button.payload) return;
      var el = document.createElement("button");
      el.type = "button";
      el.className = "msg__button";
      el.textContent = button.title;
      el.addEventListener("click", function () {
        sendPayload(button.payload, button.title);
      });
      box.appendChild(el);
    });
    return box;
  }

  function buildMessage(message) {
    var fromUser = message.direction === "in";
    var item = document.createElement("li");
    item.className = "msg " + (fromUser ? "msg--user" : "msg--bot");
    var label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = fromUser ? "Bạn: " : "Trợ lý: ";
    item.appendChild(label);
    if (message.text) {
      var bubble = document.createElement("div");
      bubble.className = "msg__bubble";
      appendLinkifiedText(bubble, message.text);
      item.appendChild(bubble);
    }
    if (!fromUser && Array.isArray(message.buttons) && message.buttons.length) {
      item.appendChild(buildButtons(message.buttons));
    }
    return item;
  }

  function isHidden(message) {
    if (message.direction !== "in") return !message.text && !(message.buttons || []).length;
    var text = (message.text || "").trim();
    return !text || PAYLOAD_PATTERN.test(text);
  }

  function renderMessage(message) {
    var item = buildMessage(message);
    dom.log.appendChild(item);
    return item;
  }

  function nearBottom() {
    return dom.chat.scrollHeight - dom.chat.scrollTop - dom.chat.clientHeight < 80;
  }

  function scrollToBottom() {
    dom.chat.scrollTop = dom.chat.scrollHeight;
  }

  /* Shows `first` at the top if what follows it is taller than the view, else scrolls to the end. */
  function revealFrom(first) {
    var maxScroll = dom.chat.scrollHeight - dom.chat.clientHeight;
    dom.chat.scrollTop = Math.min(maxScroll, Math.max(0, first.offsetTop - 12));
  }

  function setTyping(visible) {
    dom.typing.hidden = !visible;
    if (visible) scrollToBottom();
  }

  function showNotice(text) {
    dom.notice.textContent = text;
    dom.notice.hidden = false;
  }

  function hideNotice() {
    dom.notice.hidden = true;
    dom.notice.textContent = "";
  }

  function setSending(sending) {
    state.sending = sending;
    dom.send.disabled = sending;
    dom.chat.classList.toggle("chat--busy", sending);
    dom.chat.setAttribute("aria-busy", sending ? "true" : "false");
    setTyping(sending);
  }

  /* ---------- history and reconciliation ---------- */

  function normalise(text) {
    return (text || "").replace(/\r\n/g, "\n").trim();
  }

  function addPending(message) {
    var entry = { direction: message.direction, text: normalise(message.text), element: null };
    entry.element = renderMessage(message);
    state.pending.push(entry);
    return entry;
  }

  /* The server stores long numbers (ID, phone) masked; show the bubble as it is stored. */
  function showAsStored(entry, storedText) {
    if (normalise(storedText) === entry.text) return;
    var replacement = buildMessage({ direction: "in", text: storedText });
    if (entry.element && entry.element.parentNode) entry.element.parentNode.replaceChild(replacement, entry.element);
    entry.element = replacement;
    entry.text = normalise(storedText);
  }

  function dropPending(entry) {
    var index = state.pending.indexOf(entry);
    if (index >= 0) state.pending.splice(index, 1);
    if (entry.element && entry.element.parentNode) entry.element.parentNode.removeChild(entry.element);
  }

  /* Returns true when a server message is one we already rendered locally. */
  function confirmPending(message) {
    var text = normalise(message.text);
    for (var i = 0; i < state.pending.length; i++) {
      var entry = state.pending[i];
      if (entry.direction === message.direction && entry.text === text) {
        state.pending.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  function noteCreatedAt(message) {
    var value = message.created_at;
    if (!value) return;
    var next = Date.parse(value);
    var current = Date.parse(state.lastCreatedAt);
    if (!state.lastCreatedAt || isNaN(next) || isNaN(current) || next >= current) {
      state.lastCreatedAt = value;
    }
  }

  /* Appends server messages, skipping ones already shown. Returns the first new element. */
  function ingest(messages) {
    var stick = nearBottom();
    var first = null;
    messages.forEach(function (message) {
      noteCreatedAt(message);
      if (isHidden(message) || confirmPending(message)) return;
      var item = renderMessage(message);
      if (!first) first = item;
    });
    if (first && stick) revealFrom(first);
    return first;
  }

  function loadHistory() {
    var conversationId = state.conversationId;
    var generation = state.generation;
    state.polling = true;
    return requestJson("GET", historyUrl(null))
      .then(function (data) {
        if (conversationId !== state.conversationId || generation !== state.generation) return;
        var messages = Array.isArray(data.messages) ? data.messages : [];
        dom.log.textContent = "";
        state.pending = [];
        state.lastCreatedAt = null;
        state.historyLoaded = true;
        hideNotice();
        var shown = messages.filter(function (m) { return !isHidden(m); });
        messages.forEach(function (m) { noteCreatedAt(m); });
        shown.forEach(renderMessage);
        scrollToBottom();
        if (!shown.length) sendPayload(GREET_PAYLOAD, null);
      })
      .catch(function () {
        if (conversationId === state.conversationId) showNotice(TEXT.loadFailed);
      })
      .finally(function () {
        state.polling = false;
      });
  }

  function pollNew() {
    if (state.sending || state.polling) return Promise.resolve();
    if (!state.historyLoaded) return loadHistory();
    var conversationId = state.conversationId;
    var generation = state.generation;
    state.polling = true;
    return requestJson("GET", historyUrl(state.lastCreatedAt))
      .then(function (data) {
        if (conversationId !== state.conversationId || generation !== state.generation) return;
        ingest(Array.isArray(data.messages) ? data.messages : []);
      })
      .catch(function () {
        /* Background polling stays silent; the next tick retries. */
      })
      .finally(function () {
        state.polling = false;
      });
  }

  /* ---------- sending ---------- */

  function restoreInput(text) {
    var current = dom.input.value;
    dom.input.value = current.trim() ? text + "\n" + current : text;
    autoResize();
  }

  function submit(body, bubbleText, typedText) {
    if (state.sending) return;
    var conversationId = state.conversationId;
    state.generation += 1;
    hideNotice();
    var bubble = bubbleText ? addPending({ direction: "in", text: bubbleText }) : null;
    if (bubble) revealFrom(bubble.element);
    setSending(true);
    requestJson("POST", "/api/messages", body)
      .then(function (data) {
        if (conversationId !== state.conversationId) return;
        if (bubble && data.message && typeof data.message.text === "string") {
          showAsStored(bubble, data.message.text);
        }
        var first = null;
        (Array.isArray(data.replies) ? data.replies : []).forEach(function (reply) {
          var message = { direction: "out", text: reply.text || "", buttons: reply.buttons || [] };
          if (isHidden(message)) return;
          var entry = addPending(message);
          if (!first) first = entry.element;
        });
        setSending(false);
        revealFrom(bubble ? bubble.element : first || dom.log);
        pollNew();
      })
      .catch(function (error) {
        if (conversationId !== state.conversationId) return;
        if (bubble) dropPending(bubble);
        if (typedText) restoreInput(typedText);
        setSending(false);
        showNotice(error.userMessage || TEXT.sendFailed);
      });
  }

  function sendText(text) {
    submit({ conversation_id: state.conversationId, text: text }, text, text);
  }

  function sendPayload(payload, title) {
    var body = { conversation_id: state.conversationId, payload: payload };
    if (title) body.title = title;
    submit(body, title, null);
  }

  /* ---------- composer ---------- */

  function autoResize() {
    dom.input.style.height = "auto";
    dom.input.style.height = dom.input.scrollHeight + 2 + "px";
  }

  function onSubmit(event) {
    event.preventDefault();
    if (state.sending) return;
    var text = dom.input.value.trim();
    if (!text) return;
    dom.input.value = "";
    autoResize();
    sendText(text);
  }

  function onKeyDown(event) {
    // isComposing / 229: Enter that confirms an IME composition (e.g. Vietnamese Telex).
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (typeof dom.form.requestSubmit === "function") {
      dom.form.requestSubmit();
    } else {
      onSubmit(event);
    }
  }

  function restart(event) {
    event.preventDefault();
    state.generation += 1;
    state.pending = [];
    state.lastCreatedAt = null;
    state.historyLoaded = true;
    state.polling = false;
    dom.log.textContent = "";
    hideNotice();
    setSending(false);
    startNewConversationId();
    sendPayload(GREET_PAYLOAD, null);
    dom.input.focus();
  }

  /* ---------- start ---------- */

  function tick() {
    if (document.visibilityState === "hidden") return;
    pollNew();
  }

  function init() {
    dom.chat = document.getElementById("chat");
    dom.log = document.getElementById("messages");
    dom.typing = document.getElementById("typing");
    dom.notice = document.getElementById("notice");
    dom.form = document.getElementById("composer");
    dom.input = document.getElementById("input");
    dom.send = document.getElementById("send");

    dom.form.addEventListener("submit", onSubmit);
    dom.input.addEventListener("keydown", onKeyDown);
    dom.input.addEventListener("input", autoResize);
    document.getElementById("restart").addEventListener("click", restart);
    document.addEventListener("visibilitychange", tick);

    state.conversationId = readStoredId();
    if (!state.conversationId) startNewConversationId();
    loadHistory();
    setInterval(tick, POLL_INTERVAL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
