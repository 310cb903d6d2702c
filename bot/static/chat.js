/*
 * Web chat client for the administrative-procedure assistant.
 *
 * Talks to the bot app's JSON API (every call about a conversation carries its token in
 * header X-Conversation-Token; the id and token come from the server and stay in localStorage):
 *   POST /api/conversations                        -> {conversation_id, token}
 *   POST /api/messages {..., after_id}             -> {replies, message, messages: [{id, ...}]}
 *   GET  /api/conversations/{id}/messages[?after_id] -> {messages: [{id, direction, sender, text, buttons, created_at}]}
 *        (sender: "citizen", "bot" or "volunteer" — a person of the ward's support team answering)
 *   GET  /api/conversations/{id}/events            server-sent events, one per stored message,
 *                                                  read with fetch() (EventSource cannot send the
 *                                                  header); resumed with Last-Event-ID.
 * Every message shown from the server is known by its id, so the stream, the answer to a send
 * and the fallback polling never show one twice. While the stream is down the history is
 * polled every few seconds instead.
 *
 * Message text is always inserted with text nodes (never innerHTML); only
 * http(s) links are turned into <a> elements, built node by node.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "tthc.conversation";
  var OLD_STORAGE_KEY = "tthc.conversationId";   // an id without a token: replaced by a new conversation
  var TOKEN_HEADER = "X-Conversation-Token";
  var REQUEST_TIMEOUT_MS = 15000;
  var POLL_INTERVAL_MS = 5000;
  var STREAM_SILENCE_MS = 45000;       // the server pings every 15 s; silence this long means a dead link
  var STREAM_BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
  var GREET_PAYLOAD = "/greet";
  var EMBEDDED = document.documentElement.classList.contains("embed");
  var TEXT = {
    sendFailed: "Không gửi được tin nhắn. Bạn kiểm tra kết nối và thử lại nhé.",
    loadFailed: "Không tải được cuộc trò chuyện. Trang sẽ tự thử lại sau ít giây.",
    restarted: "Cuộc trò chuyện cũ không mở được nữa nên mình đã bắt đầu cuộc trò chuyện mới. Bạn vui lòng gửi lại câu hỏi nhé.",
  };
  var URL_PATTERN = /https?:\/\/[^\s<>"'`]+/g;
  var URL_TRAILING_PUNCTUATION = /[.,;:!?)\]}…]+$/;
  // Intent payloads ("/greet", "/ask_fee{...}") sent without a title are not shown.
  var PAYLOAD_PATTERN = /^\/[A-Za-z_][\w-]*(\{[\s\S]*\})?$/;

  var dom = {};
  var state = {
    conversationId: null,
    token: null,
    lastId: 0,
    // Ids of the stored messages already on screen.
    known: {},
    historyLoaded: false,
    sending: false,
    polling: false,
    starting: null,
    // Messages the stream delivered while a send was in flight: shown once its answer is in.
    buffered: [],
    // Bumped whenever the conversation restarts, so that answers for the old one are dropped.
    generation: 0,
    stream: { controller: null, up: false, failures: 0, timer: null, watchdog: null },
  };

  /* ---------- conversation id and token ---------- */

  /*
   * Inside the widget on another site, browsers that block third-party storage refuse this
   * frame its localStorage. The host page's widget.js then keeps the id and token for us
   * (messages "tthc-widget:save" / "tthc-widget:conversation"); only a page allowed to frame
   * this one (CSP frame-ancestors, WIDGET_ORIGINS) can be our parent.
   */
  function localStorageWorks() {
    try {
      var key = "tthc.probe";
      window.localStorage.setItem(key, "1");
      window.localStorage.removeItem(key);
      return true;
    } catch (e) {
      return false;
    }
  }

  var HOST_KEEPS = EMBEDDED && window.parent !== window && !localStorageWorks();
  var hostSaved = null;

  function parentOrigin() {
    var ancestors = window.location.ancestorOrigins;
    return ancestors && ancestors.length ? ancestors[0] : "*";
  }

  function askHost() {
    return new Promise(function (resolve) {
      var done = false;
      function finish(value) {
        if (done) return;
        done = true;
        window.removeEventListener("message", onReply);
        resolve(value);
      }
      function onReply(event) {
        if (event.source !== window.parent || !event.data || event.data.type !== "tthc-widget:conversation") return;
        var saved = event.data.conversation;
        finish(saved && typeof saved.id === "string" && typeof saved.token === "string" ? saved : null);
      }
      window.addEventListener("message", onReply);
      window.parent.postMessage({ type: "tthc-widget:ready" }, parentOrigin());
      setTimeout(function () { finish(null); }, 1500);
    });
  }

  function readStored() {
    if (HOST_KEEPS) return hostSaved;
    try {
      window.localStorage.removeItem(OLD_STORAGE_KEY);
      var saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
      if (saved && typeof saved.id === "string" && typeof saved.token === "string") return saved;
    } catch (e) {
      /* Storage blocked or unreadable: a new conversation. */
    }
    return null;
  }

  function store(id, token) {
    if (HOST_KEEPS) {
      window.parent.postMessage({ type: "tthc-widget:save", conversation: { id: id, token: token } }, parentOrigin());
      return;
    }
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify({ id: id, token: token }));
    } catch (e) {
      /* Private mode or blocked storage: the conversation lasts as long as the page. */
    }
  }

  function forget() {
    if (HOST_KEEPS) {
      window.parent.postMessage({ type: "tthc-widget:save", conversation: null }, parentOrigin());
      return;
    }
    try {
      window.localStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      /* nothing stored */
    }
  }

  /* Asks the server for a new conversation (id and token) and makes it the current one. */
  function startNewConversation() {
    state.generation += 1;
    stopStream();
    state.conversationId = null;
    state.token = null;
    state.lastId = 0;
    state.known = {};
    state.buffered = [];
    state.historyLoaded = false;
    var generation = state.generation;
    state.starting = requestJson("POST", "/api/conversations", {}).then(function (data) {
      if (generation !== state.generation) return false;
      if (typeof data.conversation_id !== "string" || typeof data.token !== "string") throw new Error("bad answer");
      state.conversationId = data.conversation_id;
      state.token = data.token;
      store(state.conversationId, state.token);
      state.historyLoaded = true;
      return true;
    }).finally(function () {
      if (generation === state.generation) state.starting = null;
    });
    return state.starting;
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
    if (state.token && url !== "/api/conversations") options.headers[TOKEN_HEADER] = state.token;
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
            error.status = response.status;
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

  function conversationUrl(what) {
    return "/api/conversations/" + encodeURIComponent(state.conversationId) + "/" + what;
  }

  function historyUrl(afterId) {
    return conversationUrl("messages") + (afterId ? "?after_id=" + encodeURIComponent(afterId) : "");
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
    var fromVolunteer = !fromUser && message.sender === "volunteer";
    item.className = "msg " + (fromUser ? "msg--user" : "msg--bot") + (fromVolunteer ? " msg--volunteer" : "");
    var label = document.createElement("span");
    label.className = fromVolunteer ? "msg__from" : "visually-hidden";
    label.textContent = fromUser ? "Bạn: " : (fromVolunteer ? "Tư vấn viên" : "Trợ lý: ");
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

  /* ---------- history, live events and reconciliation ---------- */

  function normalise(text) {
    return (text || "").replace(/\r\n/g, "\n").trim();
  }

  /* A message shown before the server stored it (the citizen's own bubble while sending). */
  function addLocal(message) {
    return { text: normalise(message.text), element: renderMessage(message) };
  }

  /* The server stores long numbers (ID, phone) masked; show the bubble as it is stored. */
  function showAsStored(entry, storedText) {
    if (normalise(storedText) === entry.text) return;
    var replacement = buildMessage({ direction: "in", text: storedText });
    if (entry.element && entry.element.parentNode) entry.element.parentNode.replaceChild(replacement, entry.element);
    entry.element = replacement;
    entry.text = normalise(storedText);
  }

  function dropLocal(entry) {
    if (entry.element && entry.element.parentNode) entry.element.parentNode.removeChild(entry.element);
  }

  function validId(message) {
    return message && typeof message.id === "number" && message.id > 0;
  }

  /* Marks a stored message as on screen; false when it already was. */
  function remember(message) {
    if (!validId(message)) return true;
    if (state.known[message.id]) return false;
    state.known[message.id] = true;
    if (message.id > state.lastId) state.lastId = message.id;
    return true;
  }

  /* Appends stored messages not shown yet, in id order. Returns the first new element. */
  function ingest(messages) {
    var stick = nearBottom();
    var first = null;
    messages.slice().sort(function (a, b) { return (a.id || 0) - (b.id || 0); }).forEach(function (message) {
      if (!remember(message) || isHidden(message)) return;
      var item = renderMessage(message);
      if (!first) first = item;
    });
    if (first && stick) revealFrom(first);
    return first;
  }

  function flushBuffered() {
    var buffered = state.buffered;
    state.buffered = [];
    if (buffered.length) ingest(buffered);
  }

  /* A 403: the stored token is not (or no longer) valid, e.g. the server's key changed. */
  function restartAfterRefusal() {
    forget();
    resetScreen();
    return startNewConversation().then(function (started) {
      if (!started) return;
      showNotice(TEXT.restarted);
      startStream();
      sendPayload(GREET_PAYLOAD, null);
    });
  }

  function loadHistory() {
    var conversationId = state.conversationId;
    var generation = state.generation;
    state.polling = true;
    return requestJson("GET", historyUrl(0))
      .then(function (data) {
        if (conversationId !== state.conversationId || generation !== state.generation) return;
        var messages = Array.isArray(data.messages) ? data.messages : [];
        dom.log.textContent = "";
        state.known = {};
        state.lastId = 0;
        state.historyLoaded = true;
        hideNotice();
        ingest(messages);
        scrollToBottom();
        startStream();
        if (!dom.log.children.length) sendPayload(GREET_PAYLOAD, null);
      })
      .catch(function (error) {
        if (conversationId !== state.conversationId || generation !== state.generation) return;
        if (error.status === 403) return restartAfterRefusal();
        showNotice(TEXT.loadFailed);
      })
      .finally(function () {
        state.polling = false;
      });
  }

  /* Fallback while the event stream is down: fetch what is newer than the last message shown. */
  function pollNew() {
    if (state.sending || state.polling || state.starting || !state.conversationId) return Promise.resolve();
    if (!state.historyLoaded) return loadHistory();
    if (state.stream.up) return Promise.resolve();
    var conversationId = state.conversationId;
    var generation = state.generation;
    state.polling = true;
    return requestJson("GET", historyUrl(state.lastId))
      .then(function (data) {
        if (conversationId !== state.conversationId || generation !== state.generation || state.sending) return;
        ingest(Array.isArray(data.messages) ? data.messages : []);
      })
      .catch(function () {
        /* Background polling stays silent; the next tick retries. */
      })
      .finally(function () {
        state.polling = false;
      });
  }

  function onStoredMessage(message) {
    if (!validId(message)) return;
    if (state.sending) {
      state.buffered.push(message);
    } else {
      ingest([message]);
    }
  }

  /* ---------- event stream (server-sent events over fetch) ---------- */

  function streamSupported() {
    return typeof fetch === "function" && typeof AbortController === "function" &&
      typeof TextDecoder === "function" && window.ReadableStream !== undefined;
  }

  function stopStream() {
    var stream = state.stream;
    clearTimeout(stream.timer);
    clearTimeout(stream.watchdog);
    stream.timer = null;
    stream.up = false;
    if (stream.controller) stream.controller.abort();
    stream.controller = null;
  }

  function scheduleReconnect(delay) {
    var stream = state.stream;
    clearTimeout(stream.timer);
    if (delay === undefined) {
      delay = STREAM_BACKOFF_MS[Math.min(stream.failures, STREAM_BACKOFF_MS.length - 1)];
      delay += Math.floor(Math.random() * 500);
    }
    stream.failures += 1;
    stream.timer = setTimeout(startStream, delay);
  }

  /* Parses the SSE text format: calls onEvent(data, id) for every complete "message" event. */
  function sseParser(onEvent) {
    var buffer = "";
    var data = [];
    var id = null;
    var type = "";
    function line(text) {
      if (text === "") {
        if (data.length && (type === "" || type === "message")) onEvent(data.join("\n"), id);
        data = [];
        id = null;
        type = "";
        return;
      }
      if (text.charAt(0) === ":") return;   // comment (keep-alive ping)
      var colon = text.indexOf(":");
      var field = colon < 0 ? text : text.slice(0, colon);
      var value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "id") id = value;
      else if (field === "event") type = value;
    }
    return function (chunk) {
      buffer += chunk;
      // A lone "\r" at the end may be the first half of "\r\n": keep it for the next chunk.
      var held = buffer.charAt(buffer.length - 1) === "\r" ? "\r" : "";
      if (held) buffer = buffer.slice(0, -1);
      var lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() + held;
      lines.forEach(line);
    };
  }

  function startStream() {
    var stream = state.stream;
    if (!streamSupported() || !state.conversationId || !state.token) return;
    if (stream.controller) return;
    clearTimeout(stream.timer);
    var controller = new AbortController();
    var conversationId = state.conversationId;
    stream.controller = controller;
    function alive() {
      clearTimeout(stream.watchdog);
      stream.watchdog = setTimeout(function () { controller.abort(); }, STREAM_SILENCE_MS);
    }
    function ended(retryAfterMs) {
      if (stream.controller !== controller) return;   // stopped on purpose, or replaced
      clearTimeout(stream.watchdog);
      stream.controller = null;
      stream.up = false;
      pollNew();
      scheduleReconnect(retryAfterMs);
    }
    var headers = { Accept: "text/event-stream" };
    headers[TOKEN_HEADER] = state.token;
    if (state.lastId) headers["Last-Event-ID"] = String(state.lastId);
    alive();
    fetch(conversationUrl("events"), { headers: headers, signal: controller.signal, cache: "no-store" })
      .then(function (response) {
        if (response.status === 403) {
          stream.controller = null;
          clearTimeout(stream.watchdog);
          if (conversationId === state.conversationId) restartAfterRefusal();
          return;
        }
        if (!response.ok || !response.body) {
          ended(response.status === 429 ? 60000 : undefined);
          return;
        }
        stream.up = true;
        stream.failures = 0;
        var reader = response.body.getReader();
        var decoder = new TextDecoder("utf-8");
        var feed = sseParser(function (data) {
          if (conversationId !== state.conversationId) return;
          try {
            onStoredMessage(JSON.parse(data));
          } catch (e) {
            /* not a message: ignored */
          }
        });
        function read() {
          return reader.read().then(function (result) {
            if (result.done) {
              ended();
              return;
            }
            alive();
            feed(decoder.decode(result.value, { stream: true }));
            return read();
          });
        }
        return read();
      })
      .catch(function () {
        ended();
      });
  }

  /* ---------- sending ---------- */

  function restoreInput(text) {
    var current = dom.input.value;
    dom.input.value = current.trim() ? text + "\n" + current : text;
    autoResize();
  }

  /* Shows the answer to a send: the stored messages (by id), else the replies as they came. */
  function showAnswer(data, bubble) {
    var stored = Array.isArray(data.messages) ? data.messages.filter(validId) : null;
    var replies = Array.isArray(data.replies) ? data.replies : [];
    var mine = null;
    if (stored) {
      for (var i = 0; i < stored.length && bubble; i++) {
        if (stored[i].direction === "in" && !state.known[stored[i].id]) {
          mine = stored[i];
          break;
        }
      }
    }
    if (bubble && data.message && typeof data.message.text === "string") showAsStored(bubble, data.message.text);
    if (mine) remember(mine);
    var first = null;
    if (stored && (mine || !bubble)) {
      first = ingest(stored);
      var answered = stored.some(function (m) { return m.direction === "out" && (!mine || m.id > mine.id); });
      if (answered || !replies.length) return first;
    }
    // Not stored (the database refused the write) or an older server: show the replies as they came.
    replies.forEach(function (reply) {
      var message = { direction: "out", text: reply.text || "", buttons: reply.buttons || [] };
      if (isHidden(message)) return;
      var entry = addLocal(message);
      if (!first) first = entry.element;
    });
    return first;
  }

  function submit(body, bubbleText, typedText) {
    if (state.sending) return;
    if (state.starting || !state.conversationId) {
      if (typedText) restoreInput(typedText);
      return;
    }
    var conversationId = state.conversationId;
    var generation = state.generation;
    body.conversation_id = conversationId;
    body.after_id = state.lastId;
    hideNotice();
    var bubble = bubbleText ? addLocal({ direction: "in", text: bubbleText }) : null;
    if (bubble) revealFrom(bubble.element);
    setSending(true);
    requestJson("POST", "/api/messages", body)
      .then(function (data) {
        if (conversationId !== state.conversationId || generation !== state.generation) return;
        var first = showAnswer(data, bubble);
        setSending(false);
        flushBuffered();
        revealFrom(bubble ? bubble.element : first || dom.log);
      })
      .catch(function (error) {
        if (conversationId !== state.conversationId || generation !== state.generation) return;
        if (bubble) dropLocal(bubble);
        if (typedText) restoreInput(typedText);
        setSending(false);
        flushBuffered();
        if (error.status === 403) {
          restartAfterRefusal();
          return;
        }
        showNotice(error.userMessage || TEXT.sendFailed);
      });
  }

  function sendText(text) {
    submit({ text: text }, text, text);
  }

  function sendPayload(payload, title) {
    var body = { payload: payload };
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

  function resetScreen() {
    dom.log.textContent = "";
    hideNotice();
    setSending(false);
  }

  function begin() {
    return startNewConversation().then(function (started) {
      if (!started) return;
      startStream();
      sendPayload(GREET_PAYLOAD, null);
    }).catch(function () {
      showNotice(TEXT.loadFailed);
    });
  }

  function restart(event) {
    event.preventDefault();
    forget();
    resetScreen();
    begin();
    dom.input.focus();
  }

  /* ---------- start ---------- */

  function tick() {
    if (document.visibilityState === "hidden") return;
    if (!state.conversationId && !state.starting) {
      begin();
      return;
    }
    pollNew();
  }

  /* Back on the page: reconnect at once rather than after the backoff. */
  function onVisibilityChange() {
    if (document.visibilityState === "hidden") return;
    if (!state.stream.up && !state.stream.controller && state.historyLoaded) {
      state.stream.failures = 0;
      startStream();
    }
    tick();
  }

  /* Inside the widget's iframe: Escape asks the host page to close the panel; focus on request. */
  function setUpEmbedding() {
    if (!EMBEDDED || window.parent === window) return;
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" || event.key === "Esc") {
        window.parent.postMessage({ type: "tthc-widget:close" }, "*");   // carries nothing private
      }
    });
    window.addEventListener("message", function (event) {
      if (event.source === window.parent && event.data && event.data.type === "tthc-widget:focus") {
        dom.input.focus();
      }
    });
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
    document.addEventListener("visibilitychange", onVisibilityChange);
    setUpEmbedding();

    var ready = HOST_KEEPS ? askHost().then(function (saved) { hostSaved = saved; }) : Promise.resolve();
    ready.then(function () {
      var saved = readStored();
      if (saved) {
        state.conversationId = saved.id;
        state.token = saved.token;
        loadHistory();
      } else {
        begin();
      }
      setInterval(tick, POLL_INTERVAL_MS);
    });
    if (EMBEDDED) dom.input.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
