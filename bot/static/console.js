/*
 * Volunteer console (/console): ward volunteers take over chats from the bot.
 *
 * Talks to the JSON API of bot/console.py and bot/auth.py (same origin, session cookie):
 *   POST /api/auth/login {username, password}    -> {username, role, team, display_name, csrf_token}
 *   GET  /api/auth/me                            -> the same fields (401 when not logged in)
 *   POST /api/auth/logout
 *   GET  /console/api/conversations?tab=waiting|mine|callback|closed -> {conversations: [...]}
 *   GET  /console/api/conversations/{id}         -> list fields + messages, notes, intents, dossier, draft,
 *                                                  rating, can_reply, can_claim, can_assign
 *   POST /console/api/conversations/{id}/claim | release | close {reason} | assign {username}
 *   POST /console/api/conversations/{id}/messages {text} | notes {text}
 *   GET/POST /console/api/presence, GET/POST /console/api/canned, DELETE /console/api/canned/{code}
 *   POST /console/api/callbacks/{callback_id}/done, GET /console/api/figures?days=N
 *   GET  /console/api/events                     server-sent events ("change"), read with fetch()
 *                                                  like the citizen page does; resumed with Last-Event-ID.
 * Every POST/DELETE carries the session's CSRF token (kept in memory only) in X-CSRF-Token.
 * While the event stream is down the lists are polled every 5 s instead.
 *
 * Every text that comes from the server is inserted with textContent / text nodes, never innerHTML.
 */
(function () {
  "use strict";

  var API = "/console/api";
  var CSRF_HEADER = "X-CSRF-Token";
  var REQUEST_TIMEOUT_MS = 15000;
  var POLL_INTERVAL_MS = 5000;
  var REFRESH_DEBOUNCE_MS = 300;
  var CLOCK_TICK_MS = 30000;
  var STREAM_SILENCE_MS = 45000;       // the server pings every 15 s; silence this long means a dead link
  var STREAM_BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
  var BEEP_MIN_GAP_MS = 1500;
  var VN_OFFSET_MS = 7 * 3600 * 1000;  // Vietnam: UTC+7 all year
  var LAST_MESSAGE_CHARS = 140;
  var MAX_SUGGESTIONS = 8;
  var CANNED_CODE = /^[a-z0-9][a-z0-9_-]{0,31}$/;   // the server's rule (bot/console.py)
  var LIST_TABS = ["waiting", "mine", "callback", "closed"];
  var EDITOR_ROLES = { supervisor: true, admin: true };
  // Intent payloads ("/greet", "/ask_fee{...}") the web chat sends for buttons: not shown.
  var PAYLOAD_PATTERN = /^\/[A-Za-z_][\w-]*(\{[\s\S]*\})?$/;

  var TEXT = {
    network: "Không kết nối được máy chủ. Bạn kiểm tra mạng rồi thử lại.",
    generic: "Có lỗi xảy ra, bạn thử lại sau ít giây.",
    loginMissing: "Bạn nhập tên đăng nhập và mật khẩu.",
    loginFailed: "Không đăng nhập được. Bạn thử lại sau ít phút.",
    sessionEnded: "Phiên làm việc đã hết hạn. Bạn vui lòng đăng nhập lại.",
    claimedBy: "Cuộc trò chuyện này đã có {who} nhận",
    claimed: "Bạn đã nhận hỗ trợ cuộc trò chuyện này.",
    released: "Đã trả cuộc trò chuyện lại cho bot.",
    closed: "Đã kết thúc cuộc trò chuyện.",
    assigned: "Đã giao cuộc trò chuyện cho {who}.",
    callbackDone: "Đã ghi nhận: đã gọi lại.",
    cannedSaved: "Đã lưu mẫu câu #{code}.",
    cannedDeleted: "Đã xoá mẫu câu #{code}.",
    cannedMissing: "Bạn nhập mã và nội dung mẫu câu.",
    cannedBadCode: "Mã mẫu câu chỉ gồm chữ thường không dấu, số, gạch ngang (tối đa 32 ký tự).",
    reasonMissing: "Bạn nhập lý do kết thúc.",
    assignMissing: "Bạn chọn người nhận.",
    flag: "Báo câu trả lời sai",
    flagTitle: "Câu hỏi của người dân trước câu trả lời này sẽ được gửi cho cán bộ để dạy lại trợ lý.",
    flagged: "Đã báo câu trả lời sai",
    flagDone: "Đã báo câu trả lời sai. Cán bộ sẽ xem lại câu hỏi này để dạy lại trợ lý.",
    noVolunteers: "Chưa có tình nguyện viên nào để giao.",
    notifyWaiting: "Có người dân cần hỗ trợ",
    notifyWaitingBody: "Một cuộc trò chuyện mới đang chờ trong hàng đợi.",
    notifyMessage: "Tin nhắn mới từ người dân",
    liveUp: "Trực tiếp",
    liveDown: "Mất kết nối trực tiếp — tự cập nhật mỗi 5 giây",
    liveConnecting: "Đang kết nối…",
    unknownProcedure: "Chưa rõ thủ tục",
    citizen: "Người dân",
    bot: "Trợ lý ảo",
    volunteer: "Tình nguyện viên",
    replyWaiting: "Bấm “Nhận hỗ trợ” để trả lời người dân.",
    replyOther: "Cuộc trò chuyện đang do {who} hỗ trợ.",
    replyClosed: "Cuộc trò chuyện đã kết thúc.",
    replyNotAllowed: "Bạn chưa thể trả lời trong cuộc trò chuyện này.",
    noNotes: "Chưa có ghi chú.",
    noMessages: "Chưa có tin nhắn.",
    noIntents: "Chưa có.",
    noDossier: "Chưa có hồ sơ.",
    loading: "Đang tải…",
    empty: {
      waiting: "Không có ai đang chờ. Khi có người dân cần hỗ trợ, trang sẽ báo chuông.",
      mine: "Bạn chưa nhận cuộc trò chuyện nào.",
      callback: "Không có yêu cầu gọi lại nào.",
      closed: "Chưa có cuộc trò chuyện nào đã đóng.",
    },
    noFigures: "Chưa có số liệu trong khoảng thời gian này.",
    noCanned: "Chưa có mẫu câu nào.",
  };
  var TAB_TITLES = { waiting: "Đang chờ", mine: "Của tôi", callback: "Gọi lại", closed: "Đã đóng", figures: "Số liệu" };
  var CHANNELS = { web: "Web", telegram: "Telegram", zalo: "Zalo" };
  var STATES = { waiting: "Đang chờ", claimed: "Đang được hỗ trợ", closed: "Đã kết thúc" };
  var REASONS = {
    asked: "Người dân muốn gặp tư vấn viên",
    not_understood: "Trợ lý không hiểu hai lần liền",
    repeated: "Người dân hỏi lại cùng một câu",
    dossier: "Bước hồ sơ trợ lý không làm được",
  };
  var ROLES = { volunteer: "Tình nguyện viên", supervisor: "Giám sát", admin: "Quản trị viên", staff: "Cán bộ" };
  var PRESENCE = { online: "Trực tuyến", away: "Tạm vắng", offline: "Ngoại tuyến" };

  /* The session's CSRF token: in memory only (the page gets it back from /api/auth/me after a reload). */
  var csrfToken = null;

  var dom = {};
  var state = {
    me: null,
    session: 0,                 // bumped at every login / logout: answers for an old session are dropped
    tab: "waiting",
    view: "list",               // list | figures | canned
    lists: {},
    listsLoaded: false,
    listLoading: null,
    listPending: false,
    knownWaiting: {},
    mineIds: {},
    openId: null,
    open: null,
    convLoading: null,          // id being loaded
    convPending: false,
    convGeneration: 0,
    renderedIds: [],
    pushedHash: false,
    canned: [],
    volunteers: [],
    presence: "online",
    sendingReply: false,
    sendingNote: false,
    suggestions: [],
    suggestionIndex: 0,
    refreshTimer: null,
    convTimer: null,
    pollTimer: null,
    clockTimer: null,
    noticeTimer: null,
    lastEventId: null,
    audio: null,
    lastBeep: 0,
    stream: { controller: null, up: false, failures: 0, timer: null, watchdog: null },
  };

  /* ---------- small helpers ---------- */

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return values[name] === undefined || values[name] === null ? "" : String(values[name]);
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function truncate(text, max) {
    text = String(text || "").replace(/\s+/g, " ").trim();
    return text.length > max ? text.slice(0, max - 1).trimEnd() + "…" : text;
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function parseTime(iso) {
    if (!iso || typeof iso !== "string") return NaN;
    // "2026-03-02 01:02:03.123456+00:00" → a form every browser reads.
    var normal = iso.trim().replace(" ", "T").replace(/(\.\d{3})\d+/, "$1");
    return Date.parse(normal);
  }

  /* Vietnam local date parts of an ISO time (UTC+7, no daylight saving). */
  function vnParts(ms) {
    var d = new Date(ms + VN_OFFSET_MS);
    return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes() };
  }

  function hhmm(iso) {
    var ms = parseTime(iso);
    if (isNaN(ms)) return "";
    var p = vnParts(ms);
    return pad(p.h) + ":" + pad(p.mi);
  }

  /* HH:MM today (Vietnam time), "dd/mm HH:MM" another day. */
  function shortTime(iso) {
    var ms = parseTime(iso);
    if (isNaN(ms)) return "";
    var p = vnParts(ms);
    var today = vnParts(Date.now());
    var time = pad(p.h) + ":" + pad(p.mi);
    if (p.y === today.y && p.mo === today.mo && p.d === today.d) return time;
    return pad(p.d) + "/" + pad(p.mo) + " " + time;
  }

  function timeElement(iso, className) {
    var node = el("time", className, shortTime(iso));
    if (iso) node.setAttribute("datetime", iso);
    return node;
  }

  /* "chờ 3 phút", "chờ 1 giờ 5 phút", "chờ dưới 1 phút". */
  function waitingText(iso) {
    var ms = parseTime(iso);
    if (isNaN(ms)) return "";
    var minutes = Math.floor(Math.max(0, Date.now() - ms) / 60000);
    if (minutes < 1) return "chờ dưới 1 phút";
    if (minutes < 60) return "chờ " + minutes + " phút";
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    return "chờ " + hours + " giờ" + (rest ? " " + rest + " phút" : "");
  }

  /* Seconds as "2 phút 5 giây" ("1 giờ 3 phút", "0 giây"); null → "—". */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(Number(seconds))) return "—";
    var total = Math.max(0, Math.round(Number(seconds)));
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    var parts = [];
    if (h) parts.push(h + " giờ");
    if (m) parts.push(m + " phút");
    if (s || !parts.length) parts.push(s + " giây");
    return parts.join(" ");
  }

  function formatDate(value) {
    var match = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(value || ""));
    return match ? match[3] + "/" + match[2] + "/" + match[1] : String(value || "");
  }

  function decimal(value) {
    return (Math.round(Number(value) * 10) / 10).toFixed(1).replace(".", ",");
  }

  function channelLabel(channel) {
    return CHANNELS[channel] || (channel ? String(channel) : "Không rõ kênh");
  }

  function procedureLabel(conversation) {
    return (conversation && (conversation.procedure_name || conversation.procedure)) || TEXT.unknownProcedure;
  }

  function ownerName(conversation) {
    return conversation.assigned_name || conversation.assigned_to || "";
  }

  function isEditor() {
    return !!(state.me && EDITOR_ROLES[state.me.role]);
  }

  function conversationUrl(id, what) {
    return API + "/conversations/" + encodeURIComponent(id) + (what ? "/" + what : "");
  }

  /* ---------- HTTP ---------- */

  function api(method, url, body) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) controller.abort();
    }, REQUEST_TIMEOUT_MS);
    var headers = { Accept: "application/json" };
    var options = {
      method: method,
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      signal: controller ? controller.signal : undefined,
    };
    if (method !== "GET" && method !== "HEAD") {
      headers["Content-Type"] = "application/json";
      if (csrfToken) headers[CSRF_HEADER] = csrfToken;
      options.body = JSON.stringify(body || {});
    }
    return fetch(url, options)
      .then(function (response) {
        return response.json().catch(function () {
          return null;
        }).then(function (data) {
          if (!response.ok) {
            var error = new Error("HTTP " + response.status);
            error.status = response.status;
            error.data = data || {};
            error.userMessage = data && typeof data.error === "string" ? data.error : null;
            throw error;
          }
          return data || {};
        });
      }, function () {
        var error = new Error("network");
        error.status = 0;
        error.data = {};
        error.userMessage = TEXT.network;
        throw error;
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  /* An API error: a 401 ends the session (back to the login form); anything else is shown. */
  function handleError(error, options) {
    options = options || {};
    if (error && error.status === undefined && window.console) window.console.error(error);   // a bug, not the API
    if (error && error.status === 401 && state.me) {
      leaveConsole(error.userMessage || TEXT.sessionEnded);
      return;
    }
    if (options.quiet) return;
    showError((error && error.userMessage) || TEXT.generic);
  }

  function guard(session, fn) {
    return function (value) {
      if (session !== state.session) return undefined;
      return fn(value);
    };
  }

  /* ---------- messages to the volunteer ---------- */

  function showError(text) {
    dom.errorText.textContent = text;
    dom.errorBar.hidden = false;
  }

  function clearError() {
    dom.errorBar.hidden = true;
    dom.errorText.textContent = "";
  }

  function showNotice(text) {
    clearTimeout(state.noticeTimer);
    dom.notice.textContent = text;
    state.noticeTimer = setTimeout(function () {
      dom.notice.textContent = "";
    }, 4000);
  }

  /* ---------- login, session ---------- */

  function showLogin(message) {
    dom.boot.hidden = true;
    dom.consoleView.hidden = true;
    dom.loginView.hidden = false;
    if (message) {
      dom.loginError.textContent = message;
      dom.loginError.hidden = false;
    } else {
      dom.loginError.hidden = true;
      dom.loginError.textContent = "";
    }
    document.title = "Đăng nhập — Bàn hỗ trợ tình nguyện viên";
    (dom.loginUsername.value ? dom.loginPassword : dom.loginUsername).focus();
  }

  function onLoginSubmit(event) {
    event.preventDefault();
    var username = dom.loginUsername.value.trim();
    var password = dom.loginPassword.value;
    if (!username || !password) {
      dom.loginError.textContent = TEXT.loginMissing;
      dom.loginError.hidden = false;
      return;
    }
    dom.loginSubmit.disabled = true;
    dom.loginError.hidden = true;
    csrfToken = null;
    api("POST", "/api/auth/login", { username: username, password: password })
      .then(function (account) {
        dom.loginPassword.value = "";
        enterConsole(account);
      })
      .catch(function (error) {
        dom.loginPassword.value = "";
        dom.loginError.textContent = error.userMessage || TEXT.loginFailed;
        dom.loginError.hidden = false;
        dom.loginPassword.focus();
      })
      .finally(function () {
        dom.loginSubmit.disabled = false;
      });
  }

  function enterConsole(account) {
    state.session += 1;
    csrfToken = typeof account.csrf_token === "string" ? account.csrf_token : null;
    state.me = {
      username: account.username,
      role: account.role,
      team: account.team,
      display_name: account.display_name,
    };
    state.lists = {};
    state.listsLoaded = false;
    state.knownWaiting = {};
    state.mineIds = {};
    state.lastEventId = null;
    dom.boot.hidden = true;
    dom.loginView.hidden = true;
    dom.consoleView.hidden = false;
    clearError();
    dom.meName.textContent = account.display_name || account.username || "";
    var team = account.team ? "Nhóm " + account.team : "";
    var role = ROLES[account.role] || account.role || "";
    dom.meTeam.textContent = [role, team].filter(Boolean).join(" · ");
    document.body.classList.toggle("is-editor", isEditor());
    dom.cannedForm.hidden = !isEditor();
    setPresence("online");
    armFirstGesture();
    selectTab(LIST_TABS.indexOf(state.tab) >= 0 || state.tab === "figures" ? state.tab : "waiting", { quiet: true });
    loadPresence();
    loadCanned();
    startStream();
    clearInterval(state.pollTimer);
    state.pollTimer = setInterval(poll, POLL_INTERVAL_MS);
    clearInterval(state.clockTimer);
    state.clockTimer = setInterval(updateClocks, CLOCK_TICK_MS);
    openFromHash();
    updateTitle();
  }

  /* Back to the login form: the session ended (logout, expiry) — nothing of it stays on screen. */
  function leaveConsole(message) {
    state.session += 1;
    csrfToken = null;
    state.me = null;
    stopStream();
    clearInterval(state.pollTimer);
    clearInterval(state.clockTimer);
    clearTimeout(state.refreshTimer);
    clearTimeout(state.convTimer);
    state.lists = {};
    state.canned = [];
    state.volunteers = [];
    closeConversation({ keepHash: true });
    dom.list.textContent = "";
    dom.figuresBody.textContent = "";
    dom.cannedList.textContent = "";
    dom.replyText.value = "";
    dom.noteText.value = "";
    hideSuggestions();
    clearError();
    showLogin(message);
  }

  function logout() {
    var session = state.session;
    dom.logout.disabled = true;
    api("POST", "/api/auth/logout", {})
      .catch(function () { /* the session is dropped on this side anyway */ })
      .then(function () {
        dom.logout.disabled = false;
        if (session === state.session) leaveConsole(null);
      });
  }

  function resume() {
    api("GET", "/api/auth/me")
      .then(enterConsole)
      .catch(function (error) {
        showLogin(error.status === 401 || error.status === 403 ? null : error.userMessage);
      });
  }

  /* ---------- presence ---------- */

  function setPresence(status) {
    if (!PRESENCE[status]) return;
    state.presence = status;
    dom.presence.value = status;
    dom.presence.setAttribute("data-status", status);
  }

  function loadPresence() {
    var session = state.session;
    return api("GET", API + "/presence")
      .then(guard(session, function (data) {
        state.volunteers = Array.isArray(data.volunteers) ? data.volunteers : [];
        state.volunteers.forEach(function (v) {
          if (state.me && v.username === state.me.username) setPresence(v.status);
        });
        return state.volunteers;
      }))
      .catch(function (error) {
        handleError(error, { quiet: true });
        return [];
      });
  }

  function onPresenceChange() {
    var wanted = dom.presence.value;
    var before = state.presence;
    var session = state.session;
    dom.presence.disabled = true;
    clearError();
    api("POST", API + "/presence", { status: wanted })
      .then(guard(session, function (data) {
        setPresence(data.status || wanted);
        scheduleRefresh();
        if (state.openId) scheduleConversationRefresh();
      }))
      .catch(function (error) {
        setPresence(before);
        handleError(error);
      })
      .finally(function () {
        dom.presence.disabled = false;
      });
  }

  /* ---------- tabs and views ---------- */

  function selectTab(tab, options) {
    options = options || {};
    state.tab = tab;
    state.view = tab === "figures" ? "figures" : "list";
    dom.tabs.forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-tab") === tab ? "true" : "false");
    });
    dom.cannedOpen.setAttribute("aria-pressed", "false");
    dom.listTitle.textContent = TAB_TITLES[tab] || "";
    applyView();
    if (state.view === "figures") {
      loadFigures(options);
    } else {
      renderList();
      refreshLists(options);
    }
  }

  function openCannedPanel() {
    state.view = "canned";
    dom.tabs.forEach(function (button) { button.setAttribute("aria-pressed", "false"); });
    dom.cannedOpen.setAttribute("aria-pressed", "true");
    applyView();
    loadCanned();
  }

  function applyView() {
    var list = state.view === "list";
    dom.listPane.hidden = !list;
    dom.conversation.hidden = !list;
    dom.figures.hidden = state.view !== "figures";
    dom.cannedPanel.hidden = state.view !== "canned";
    dom.consoleView.classList.toggle("console--panel", !list);
    dom.consoleView.classList.toggle("console--conversation", list && !!state.openId);
  }

  /* ---------- conversation lists ---------- */

  function refreshLists(options) {
    options = options || {};
    if (!state.me) return Promise.resolve();
    if (state.listLoading) {
      state.listPending = true;
      return state.listLoading;
    }
    var tabs = [];
    if (state.view === "list" && LIST_TABS.indexOf(state.tab) >= 0) tabs.push(state.tab);
    if (tabs.indexOf("waiting") < 0) tabs.push("waiting");
    if (tabs.indexOf("mine") < 0) tabs.push("mine");
    var session = state.session;
    dom.list.setAttribute("aria-busy", "true");
    state.listLoading = Promise.all(tabs.map(function (tab) {
      return api("GET", API + "/conversations?tab=" + encodeURIComponent(tab)).then(function (data) {
        return { tab: tab, items: Array.isArray(data.conversations) ? data.conversations : [] };
      });
    }))
      .then(guard(session, function (results) {
        results.forEach(function (result) { state.lists[result.tab] = result.items; });
        afterLists();
      }))
      .catch(function (error) {
        if (session === state.session) handleError(error, { quiet: options.quiet });
      })
      .finally(function () {
        dom.list.setAttribute("aria-busy", "false");
        state.listLoading = null;
        if (state.listPending && session === state.session) {
          state.listPending = false;
          refreshLists({ quiet: true });
        }
      });
    return state.listLoading;
  }

  function afterLists() {
    var waiting = state.lists.waiting || [];
    var mine = state.lists.mine || [];
    // Without the event stream, a chat that appeared since the last poll still rings.
    var fresh = null;
    var known = {};
    waiting.forEach(function (c) {
      known[c.id] = true;
      if (!state.knownWaiting[c.id] && !fresh) fresh = c;
    });
    if (fresh && state.listsLoaded && !state.stream.up) alertWaiting(fresh.id);
    state.knownWaiting = known;
    state.listsLoaded = true;
    state.mineIds = {};
    mine.forEach(function (c) { state.mineIds[c.id] = true; });
    dom.countWaiting.textContent = String(waiting.length);
    dom.countWaiting.classList.toggle("tab__count--alert", waiting.length > 0);
    dom.countMine.textContent = String(mine.length);
    dom.countMine.hidden = mine.length === 0;
    updateTitle();
    if (state.view === "list") renderList();
  }

  function updateTitle() {
    var waiting = (state.lists.waiting || []).length;
    document.title = (waiting ? "(" + waiting + ") " : "") + "Bàn hỗ trợ tình nguyện viên";
  }

  function renderList() {
    var items = state.lists[state.tab];
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest(".conversation-item") : null;
    var focusedId = focused ? focused.getAttribute("data-id") : null;
    var focusedDone = document.activeElement && document.activeElement.classList.contains("callback-done");
    dom.list.textContent = "";
    if (!items) {
      dom.listEmpty.textContent = TEXT.loading;
      dom.listEmpty.hidden = false;
      return;
    }
    items.forEach(function (conversation) {
      dom.list.appendChild(buildItem(conversation));
    });
    dom.listEmpty.textContent = items.length ? "" : TEXT.empty[state.tab] || "";
    dom.listEmpty.hidden = items.length > 0;
    if (focusedId !== null) {
      var again = findItem(focusedId);
      var target = again && (focusedDone ? again.querySelector(".callback-done") : again.querySelector(".conversation-item__open"));
      if (target) target.focus();
    }
  }

  function findItem(id) {
    var items = dom.list.querySelectorAll(".conversation-item");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-id") === String(id)) return items[i];
    }
    return null;
  }

  function buildItem(c) {
    var item = el("li", "conversation-item conversation-item--" + (c.state || "unknown"));
    item.setAttribute("data-id", String(c.id));
    if (String(c.id) === String(state.openId)) item.classList.add("is-active");

    var open = el("button", "conversation-item__open");
    open.type = "button";
    if (String(c.id) === String(state.openId)) open.setAttribute("aria-current", "true");

    var top = el("span", "item__top");
    top.appendChild(el("span", "badge badge--" + (CHANNELS[c.channel] ? c.channel : "other"), channelLabel(c.channel)));
    top.appendChild(el("span", "item__procedure" + (c.procedure_name ? "" : " item__procedure--unknown"),
      c.procedure_name || TEXT.unknownProcedure));
    if (c.state === "waiting" && c.position) top.appendChild(el("span", "item__position", "Vị trí " + c.position));
    open.appendChild(top);

    if (c.last_message) open.appendChild(el("span", "item__last", truncate(c.last_message, LAST_MESSAGE_CHARS)));
    if (c.callback) open.appendChild(buildCallbackText(c.callback));

    var bottom = el("span", "item__bottom");
    if (c.state === "waiting" && c.waiting_since) {
      var wait = el("span", "item__wait", waitingText(c.waiting_since));
      wait.setAttribute("data-since", c.waiting_since);
      bottom.appendChild(wait);
    }
    if (ownerName(c)) {
      var mineToo = state.me && c.assigned_to === state.me.username;
      bottom.appendChild(el("span", "item__assigned", mineToo ? "Bạn đang hỗ trợ" : "Đang hỗ trợ: " + ownerName(c)));
    } else if (c.state === "closed") {
      bottom.appendChild(el("span", "item__assigned", c.outcome === "released" ? "Đã trả lại cho bot" : STATES.closed));
    }
    if (c.last_message_at) bottom.appendChild(timeElement(c.last_message_at, "item__time"));
    if (bottom.childNodes.length) open.appendChild(bottom);
    item.appendChild(open);

    if (c.callback) item.appendChild(buildCallbackTools(c.callback));
    return item;
  }

  /* The call-back request inside the item's button (text only), so a click on the item opens it. */
  function buildCallbackText(callback) {
    var box = el("span", "item__callback");
    var line = el("span", "item__callback-line");
    line.appendChild(el("span", "item__callback-label", "Số điện thoại: "));
    line.appendChild(el("span", "item__phone", callback.phone || "—"));
    if (callback.created_at) {
      line.appendChild(el("span", "item__callback-label", " · gửi lúc "));
      line.appendChild(timeElement(callback.created_at, "item__callback-time"));
    }
    box.appendChild(line);
    if (callback.question) box.appendChild(el("span", "item__question", callback.question));
    return box;
  }

  /* Below the button: call (a tel: link on phones) and "Đã gọi lại". */
  function buildCallbackTools(callback) {
    var tools = el("div", "item__tools");
    var phone = String(callback.phone || "");
    var digits = phone.replace(/[\s.\-()]/g, "");
    if (/^\+?\d{6,15}$/.test(digits)) {
      var link = el("a", "btn btn--small item__call", "Gọi " + phone);
      link.href = "tel:" + digits;
      tools.appendChild(link);
    }
    var done = el("button", "btn btn--small btn--primary callback-done", "Đã gọi lại");
    done.type = "button";
    done.setAttribute("data-callback-id", String(callback.id));
    tools.appendChild(done);
    return tools;
  }

  function onListClick(event) {
    var target = event.target;
    var done = target.closest(".callback-done");
    if (done) {
      markCallbackDone(done);
      return;
    }
    if (target.closest("a")) return;   // the phone link
    var item = target.closest(".conversation-item");
    if (item && dom.list.contains(item)) openConversation(item.getAttribute("data-id"));
  }

  function markCallbackDone(button) {
    var id = button.getAttribute("data-callback-id");
    var session = state.session;
    button.disabled = true;
    clearError();
    api("POST", API + "/callbacks/" + encodeURIComponent(id) + "/done", {})
      .then(guard(session, function () {
        showNotice(TEXT.callbackDone);
        refreshLists();
      }))
      .catch(function (error) {
        button.disabled = false;
        handleError(error);
      });
  }

  /* Every 30 s: "chờ N phút" moves on without a reload. */
  function updateClocks() {
    var nodes = document.querySelectorAll("[data-since]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = waitingText(nodes[i].getAttribute("data-since"));
    }
  }

  /* ---------- one conversation ---------- */

  function hashId() {
    var match = /^#c=(.+)$/.exec(window.location.hash || "");
    if (!match) return null;
    try {
      return decodeURIComponent(match[1]);
    } catch (e) {
      return null;
    }
  }

  function openFromHash() {
    var id = hashId();
    if (id && id !== state.openId) openConversation(id, { fromHash: true });
  }

  function onHashChange() {
    if (!state.me) return;
    var id = hashId();
    if (id === null) {
      if (state.openId) closeConversation({ keepHash: true });
    } else if (id !== state.openId) {
      openConversation(id, { fromHash: true });
    }
  }

  function narrow() {
    return window.matchMedia ? window.matchMedia("(max-width: 759px)").matches : window.innerWidth < 760;
  }

  function openConversation(id, options) {
    options = options || {};
    if (id === null || id === undefined) return;
    id = String(id);
    if (!options.fromHash) {
      var hash = "#c=" + encodeURIComponent(id);
      if (state.openId && window.history && window.history.replaceState) {
        window.history.replaceState(null, "", hash);
      } else if (window.location.hash !== hash) {
        state.pushedHash = true;
        window.location.hash = hash;
      }
    }
    var same = id === state.openId;
    if (state.view !== "list") selectTab(LIST_TABS.indexOf(state.tab) >= 0 ? state.tab : "waiting", { quiet: true });
    state.openId = id;
    markActive();
    applyView();
    if (!same) {
      state.open = null;
      state.renderedIds = [];
      dom.transcript.textContent = "";
      dom.notes.textContent = "";
      dom.facts.textContent = "";
      dom.dossier.textContent = "";
      dom.intents.textContent = "";
      dom.convTitle.textContent = TEXT.loading;
      dom.convSub.textContent = "";
      hideForms();
      hideSuggestions();
      dom.replyText.value = "";
      dom.noteText.value = "";
      setSide("chat");
      setActions(null);
      dom.conversation.classList.remove("conv--empty");
    }
    loadConversation(id, { initial: !same });
    if (narrow()) dom.convTitle.focus();
  }

  function closeConversation(options) {
    options = options || {};
    var id = state.openId;
    state.openId = null;
    state.open = null;
    state.renderedIds = [];
    state.convGeneration += 1;
    dom.conversation.classList.add("conv--empty");
    dom.transcript.textContent = "";
    dom.notes.textContent = "";
    dom.facts.textContent = "";
    dom.dossier.textContent = "";
    dom.intents.textContent = "";
    hideForms();
    hideSuggestions();
    setActions(null);
    markActive();
    applyView();
    if (!options.keepHash && window.location.hash && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (id !== null) {
      var item = findItem(id);
      if (item && !options.keepFocus) item.querySelector(".conversation-item__open").focus();
    }
  }

  function goBack() {
    if (state.pushedHash && hashId() !== null) {
      state.pushedHash = false;
      window.history.back();   // the hashchange closes the conversation
      return;
    }
    closeConversation();
  }

  function markActive() {
    var items = dom.list.querySelectorAll(".conversation-item");
    for (var i = 0; i < items.length; i++) {
      var active = items[i].getAttribute("data-id") === String(state.openId);
      items[i].classList.toggle("is-active", active);
      var button = items[i].querySelector(".conversation-item__open");
      if (active) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  function loadConversation(id, options) {
    options = options || {};
    if (state.convLoading === id && !options.initial) {
      state.convPending = true;
      return;
    }
    var session = state.session;
    var generation = ++state.convGeneration;
    state.convLoading = id;
    state.convPending = false;
    api("GET", conversationUrl(id))
      .then(function (data) {
        if (session !== state.session || generation !== state.convGeneration || id !== state.openId) return;
        renderConversation(data, !!options.initial);
      })
      .catch(function (error) {
        if (session !== state.session || generation !== state.convGeneration || id !== state.openId) return;
        if (error.status === 403 || error.status === 404) {
          handleError(error);
          closeConversation({ keepFocus: true });
          return;
        }
        handleError(error, { quiet: !options.initial });
        if (options.initial) dom.convTitle.textContent = "";
      })
      .finally(function () {
        if (generation !== state.convGeneration) return;
        state.convLoading = null;
        if (state.convPending && id === state.openId && session === state.session) {
          state.convPending = false;
          loadConversation(id);
        }
      });
  }

  function renderConversation(c, initial) {
    state.open = c;
    dom.conversation.classList.remove("conv--empty");
    dom.convTitle.textContent = procedureLabel(c);
    var sub = [channelLabel(c.channel), STATES[c.state] || c.state || ""];
    if (c.state === "waiting" && c.position) sub.push("vị trí " + c.position);
    if (c.state === "waiting" && c.waiting_since) sub.push(waitingText(c.waiting_since));
    if (c.state === "claimed" && ownerName(c)) {
      sub.push(state.me && c.assigned_to === state.me.username ? "bạn đang hỗ trợ" : "do " + ownerName(c) + " hỗ trợ");
    }
    dom.convSub.textContent = sub.filter(Boolean).join(" · ");
    setActions(c);
    renderTranscript(Array.isArray(c.messages) ? c.messages : [], initial);
    renderNotes(Array.isArray(c.notes) ? c.notes : []);
    renderFacts(c);
    renderDossier(c);
    renderIntents(Array.isArray(c.intents) ? c.intents : []);
    setReply(c);
  }

  function setActions(c) {
    var ended = !c || c.state === "closed";
    var mineOrBoss = !!c && (c.can_reply || c.can_assign);
    dom.claim.hidden = !(c && c.can_claim);
    dom.release.hidden = !(c && c.state === "claimed" && mineOrBoss);
    dom.close.hidden = ended || !mineOrBoss;
    dom.assign.hidden = ended || !(c && c.can_assign);
    if (dom.assign.hidden) hideForm(dom.assignForm, dom.assign);
    if (dom.close.hidden) hideForm(dom.closeForm, dom.close);
    dom.noteText.disabled = !c;
    dom.noteSend.disabled = !c || state.sendingNote;
  }

  function setReply(c) {
    var can = !!(c && c.can_reply);
    dom.replyText.disabled = !can;
    dom.replySend.disabled = !can || state.sendingReply;
    var hint = "";
    if (c && !can) {
      if (c.state === "closed") hint = TEXT.replyClosed;
      else if (c.can_claim || c.state === "waiting") hint = TEXT.replyWaiting;
      else if (ownerName(c)) hint = format(TEXT.replyOther, { who: ownerName(c) });
      else hint = TEXT.replyNotAllowed;
    }
    dom.replyHint.textContent = hint;
    dom.replyHint.hidden = !hint;
    if (!can) hideSuggestions();
  }

  function senderOf(message) {
    if (message.sender === "citizen" || message.sender === "bot" || message.sender === "volunteer") return message.sender;
    return message.direction === "in" ? "citizen" : "bot";
  }

  function hiddenMessage(message) {
    var text = String(message.text || "").trim();
    if (!text) return true;
    return senderOf(message) === "citizen" && PAYLOAD_PATTERN.test(text);
  }

  function messageKey(message, index) {
    return message.id !== undefined && message.id !== null ? "m" + message.id : "i" + index;
  }

  function buildMessage(message) {
    var sender = senderOf(message);
    var item = el("li", "msg msg--" + sender);
    if (message.id !== undefined && message.id !== null) item.setAttribute("data-id", String(message.id));
    var meta = el("p", "msg__meta");
    var author = sender === "citizen" ? TEXT.citizen
      : sender === "bot" ? TEXT.bot
        : message.author_name || message.author || TEXT.volunteer;
    meta.appendChild(el("span", "msg__author", author));
    if (sender === "volunteer") meta.appendChild(el("span", "msg__role", " · " + TEXT.volunteer));
    if (message.created_at) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(timeElement(message.created_at, "msg__time"));
    }
    item.appendChild(meta);
    item.appendChild(el("div", "msg__text", message.text));
    if (sender === "bot" && message.id !== undefined && message.id !== null) item.appendChild(flagButton(message));
    return item;
  }

  /* "Báo câu trả lời sai": the question this bot answer replied to goes to the staff's NLU inbox. */
  function flagButton(message) {
    var button = el("button", "btn btn--small btn--ghost msg__flag", TEXT.flag);
    button.type = "button";
    button.title = TEXT.flagTitle;
    button.onclick = function () {
      if (!state.openId) return;
      button.disabled = true;
      api("POST", conversationUrl(state.openId, "flag"), { message_id: message.id })
        .then(function () {
          button.textContent = TEXT.flagged;
          showNotice(TEXT.flagDone);
        })
        .catch(function (error) {
          button.disabled = false;
          handleError(error);
        });
    };
    return button;
  }

  function transcriptAtBottom() {
    var t = dom.transcript;
    return t.scrollHeight - t.scrollTop - t.clientHeight < 40;
  }

  function scrollTranscriptToBottom() {
    dom.transcript.scrollTop = dom.transcript.scrollHeight;
  }

  /* Appends what is new; rebuilds (keeping the scroll position) only when the history changed. */
  function renderTranscript(messages, initial) {
    var shown = messages.filter(function (m) { return !hiddenMessage(m); });
    var keys = shown.map(messageKey);
    var stick = initial || transcriptAtBottom();
    var old = state.renderedIds;
    var prefix = !initial && old.length <= keys.length && old.every(function (k, i) { return k === keys[i]; });
    if (prefix) {
      for (var i = old.length; i < shown.length; i++) dom.transcript.appendChild(buildMessage(shown[i]));
    } else {
      var top = dom.transcript.scrollTop;
      dom.transcript.setAttribute("aria-busy", "true");
      dom.transcript.textContent = "";
      shown.forEach(function (m) { dom.transcript.appendChild(buildMessage(m)); });
      if (!shown.length) {
        var empty = el("li", "transcript__empty", TEXT.noMessages);
        dom.transcript.appendChild(empty);
      }
      dom.transcript.setAttribute("aria-busy", "false");
      if (!stick) dom.transcript.scrollTop = top;
    }
    state.renderedIds = shown.length ? keys : [];
    if (stick) scrollTranscriptToBottom();
  }

  /* The volunteer's own reply, shown at once (the refresh that follows finds it already there). */
  function appendOwnMessage(message) {
    if (!message || hiddenMessage(message)) return;
    var key = messageKey(message, state.renderedIds.length);
    if (state.renderedIds.indexOf(key) >= 0) return;
    if (!state.renderedIds.length) dom.transcript.textContent = "";
    dom.transcript.appendChild(buildMessage(message));
    state.renderedIds.push(key);
    scrollTranscriptToBottom();
  }

  function buildNote(note) {
    var item = el("li", "note");
    if (note.id !== undefined && note.id !== null) item.setAttribute("data-id", String(note.id));
    var meta = el("p", "note__meta");
    meta.appendChild(el("span", "note__author", note.author_name || note.author || TEXT.volunteer));
    if (note.created_at) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(timeElement(note.created_at, "note__time"));
    }
    item.appendChild(meta);
    item.appendChild(el("div", "note__text", note.text));
    return item;
  }

  function renderNotes(notes) {
    dom.notes.textContent = "";
    notes.forEach(function (note) { dom.notes.appendChild(buildNote(note)); });
    if (!notes.length) dom.notes.appendChild(el("li", "notes__empty", TEXT.noNotes));
  }

  function addFact(label, value, node) {
    if ((value === null || value === undefined || value === "") && !node) return;
    dom.facts.appendChild(el("dt", "facts__label", label));
    var dd = el("dd", "facts__value");
    if (node) dd.appendChild(node);
    else dd.textContent = String(value);
    dom.facts.appendChild(dd);
  }

  function renderFacts(c) {
    dom.facts.textContent = "";
    addFact("Kênh", channelLabel(c.channel));
    var procedure = c.procedure_name || c.procedure || TEXT.unknownProcedure;
    addFact("Thủ tục", procedure + (c.procedure && c.procedure_name ? " (" + c.procedure + ")" : ""));
    if (c.reason) addFact("Lý do chuyển", REASONS[c.reason] || c.reason);
    addFact("Trạng thái", STATES[c.state] || c.state);
    if (ownerName(c)) addFact("Người hỗ trợ", ownerName(c));
    if (c.team) addFact("Nhóm", c.team);
    if (c.waiting_since) {
      var since = document.createDocumentFragment();
      since.appendChild(timeElement(c.waiting_since));
      if (c.state === "waiting") {
        var wait = el("span", "facts__extra", " (" + waitingText(c.waiting_since) + ")");
        since.appendChild(wait);
      }
      addFact("Chờ từ", null, since);
    }
    if (c.callback) {
      var cb = c.callback;
      addFact("Gọi lại", [cb.phone, cb.question].filter(Boolean).join(" — "));
    }
    if (c.state === "closed" && c.close_reason) addFact("Lý do kết thúc", c.close_reason);
    if (c.rating && c.rating.score) {
      addFact("Đánh giá", c.rating.score + "/5" + (c.rating.comment ? " — " + c.rating.comment : ""));
    }
  }

  function renderDossier(c) {
    dom.dossier.textContent = "";
    dom.dossier.appendChild(el("h4", "card__subtitle", "Hồ sơ"));
    var d = c.dossier;
    if (d) {
      var line = el("p", "dossier__line");
      line.appendChild(el("strong", "dossier__code", d.code || ""));
      if (d.state_label || d.state) line.appendChild(el("span", "dossier__state", " — " + (d.state_label || d.state)));
      dom.dossier.appendChild(line);
      if (d.procedure && d.procedure !== c.procedure) dom.dossier.appendChild(el("p", "dossier__procedure", "Thủ tục: " + d.procedure));
      var checklist = Array.isArray(d.checklist) ? d.checklist : [];
      if (checklist.length) {
        dom.dossier.appendChild(el("p", "dossier__label", "Danh mục kiểm tra:"));
        var ul = el("ul", "checklist");
        checklist.forEach(function (entry) { ul.appendChild(el("li", "checklist__item", entry)); });
        dom.dossier.appendChild(ul);
      }
    } else if (c.draft) {
      var name = c.draft.procedure && c.draft.procedure === c.procedure ? procedureLabel(c) : c.draft.procedure || TEXT.unknownProcedure;
      dom.dossier.appendChild(el("p", "dossier__line",
        "Hồ sơ nháp: " + name + " — đã trả lời " + (Number(c.draft.answered) || 0) + " câu hỏi"));
    } else {
      dom.dossier.appendChild(el("p", "muted", TEXT.noDossier));
    }
  }

  function renderIntents(intents) {
    dom.intents.textContent = "";
    dom.intents.appendChild(el("h4", "card__subtitle", "Ý định nhận ra gần nhất"));
    if (!intents.length) {
      dom.intents.appendChild(el("p", "muted", TEXT.noIntents));
      return;
    }
    var list = el("ol", "intents");
    intents.slice(0, 5).forEach(function (intent) {
      var item = el("li", "intents__item");
      item.appendChild(el("code", "intents__name", intent.name));
      var confidence = Number(intent.confidence);
      if (!isNaN(confidence)) {
        var percent = Math.round((confidence <= 1 ? confidence * 100 : confidence));
        item.appendChild(el("span", "intents__confidence", " " + percent + "%"));
      }
      list.appendChild(item);
    });
    dom.intents.appendChild(list);
  }

  function scheduleConversationRefresh() {
    clearTimeout(state.convTimer);
    state.convTimer = setTimeout(function () {
      if (state.openId && state.me) loadConversation(state.openId);
    }, REFRESH_DEBOUNCE_MS);
  }

  /* Narrow screens show either the messages or the facts and notes. */
  function setSide(which) {
    dom.conversation.classList.toggle("conv--side", which === "info");
    dom.sideSwitches.forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-side") === which ? "true" : "false");
    });
  }

  /* ---------- conversation actions ---------- */

  function actionUrl(what) {
    return conversationUrl(state.openId, what);
  }

  function act(button, what, body, done) {
    if (!state.openId) return;
    var id = state.openId;
    var session = state.session;
    button.disabled = true;
    clearError();
    return api("POST", actionUrl(what), body || {})
      .then(guard(session, function (data) {
        if (done) done(data);
      }))
      .catch(function (error) {
        if (session !== state.session) return;
        if (what === "claim" && error.status === 409) {
          var who = error.data.assigned_to || error.data.assigned_name;
          showError(who ? format(TEXT.claimedBy, { who: who }) : error.userMessage || TEXT.generic);
        } else {
          handleError(error);
        }
      })
      .finally(function () {
        button.disabled = false;
        if (session === state.session) {
          refreshLists({ quiet: true });
          if (id === state.openId) loadConversation(id);
        }
      });
  }

  function claim() {
    act(dom.claim, "claim", {}, function () {
      showNotice(TEXT.claimed);
      if (!narrow()) dom.replyText.focus();
    });
  }

  function release() {
    act(dom.release, "release", {}, function () { showNotice(TEXT.released); });
  }

  function hideForm(form, opener) {
    form.hidden = true;
    opener.setAttribute("aria-expanded", "false");
  }

  function hideForms() {
    hideForm(dom.closeForm, dom.close);
    hideForm(dom.assignForm, dom.assign);
  }

  function toggleCloseForm() {
    var show = dom.closeForm.hidden;
    hideForms();
    if (!show) return;
    dom.closeForm.hidden = false;
    dom.close.setAttribute("aria-expanded", "true");
    dom.closeReason.focus();
    dom.closeReason.select();
  }

  function submitClose(event) {
    event.preventDefault();
    var reason = dom.closeReason.value.trim();
    if (!reason) {
      showError(TEXT.reasonMissing);
      dom.closeReason.focus();
      return;
    }
    act(dom.closeConfirm, "close", { reason: reason }, function () {
      hideForm(dom.closeForm, dom.close);
      showNotice(TEXT.closed);
    });
  }

  function toggleAssignForm() {
    var show = dom.assignForm.hidden;
    hideForms();
    if (!show) return;
    dom.assignForm.hidden = false;
    dom.assign.setAttribute("aria-expanded", "true");
    fillVolunteers(state.volunteers);
    loadPresence().then(function (volunteers) {
      if (!dom.assignForm.hidden) fillVolunteers(volunteers);
    });
    dom.assignTo.focus();
  }

  function fillVolunteers(volunteers) {
    var chosen = dom.assignTo.value;
    dom.assignTo.textContent = "";
    var order = { online: 0, away: 1, offline: 2 };
    var sorted = volunteers.slice().sort(function (a, b) {
      var sa = order[a.status] === undefined ? 3 : order[a.status];
      var sb = order[b.status] === undefined ? 3 : order[b.status];
      if (sa !== sb) return sa - sb;
      return String(a.display_name || a.username).localeCompare(String(b.display_name || b.username), "vi");
    });
    var placeholder = el("option", null, sorted.length ? "— Chọn người nhận —" : TEXT.noVolunteers);
    placeholder.value = "";
    dom.assignTo.appendChild(placeholder);
    sorted.forEach(function (v) {
      var label = (v.display_name || v.username) + (v.display_name ? " (" + v.username + ")" : "");
      if (v.team) label += " — " + v.team;
      label += " — " + (PRESENCE[v.status] || v.status || "");
      var option = el("option", null, label);
      option.value = v.username;
      dom.assignTo.appendChild(option);
    });
    dom.assignTo.value = chosen;
    if (dom.assignTo.value !== chosen) dom.assignTo.value = "";
  }

  function submitAssign(event) {
    event.preventDefault();
    var username = dom.assignTo.value;
    if (!username) {
      showError(TEXT.assignMissing);
      dom.assignTo.focus();
      return;
    }
    var who = dom.assignTo.options[dom.assignTo.selectedIndex].textContent.split(" — ")[0];
    act(dom.assignConfirm, "assign", { username: username }, function () {
      hideForm(dom.assignForm, dom.assign);
      showNotice(format(TEXT.assigned, { who: who }));
    });
  }

  /* ---------- reply and notes ---------- */

  function autoResize(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 200) + "px";
  }

  function restoreText(textarea, text) {
    var current = textarea.value;
    textarea.value = current.trim() ? text + "\n" + current : text;
    autoResize(textarea);
  }

  function sendReply() {
    var c = state.open;
    if (!c || !c.can_reply || state.sendingReply) return;
    var text = dom.replyText.value.trim();
    if (!text) return;
    var id = state.openId;
    var session = state.session;
    state.sendingReply = true;
    dom.replySend.disabled = true;
    dom.replyText.value = "";
    autoResize(dom.replyText);
    hideSuggestions();
    clearError();
    api("POST", actionUrl("messages"), { text: text })
      .then(guard(session, function (data) {
        if (id === state.openId) appendOwnMessage(data.message);
        scheduleConversationRefresh();
        scheduleRefresh();
      }))
      .catch(function (error) {
        if (session !== state.session) return;
        if (id === state.openId) restoreText(dom.replyText, text);
        handleError(error);
        if (id === state.openId) scheduleConversationRefresh();
      })
      .finally(function () {
        state.sendingReply = false;
        dom.replySend.disabled = !(state.open && state.open.can_reply);
      });
  }

  function sendNote(event) {
    if (event) event.preventDefault();
    if (!state.openId || state.sendingNote) return;
    var text = dom.noteText.value.trim();
    if (!text) {
      dom.noteText.focus();
      return;
    }
    var id = state.openId;
    var session = state.session;
    state.sendingNote = true;
    dom.noteSend.disabled = true;
    clearError();
    api("POST", actionUrl("notes"), { text: text })
      .then(guard(session, function (data) {
        if (id !== state.openId) return;
        dom.noteText.value = "";
        autoResize(dom.noteText);
        if (data.note) {
          var empty = dom.notes.querySelector(".notes__empty");
          if (empty) empty.parentNode.removeChild(empty);
          dom.notes.appendChild(buildNote(data.note));
        }
        scheduleConversationRefresh();
      }))
      .catch(handleError)
      .finally(function () {
        state.sendingNote = false;
        dom.noteSend.disabled = !state.openId;
      });
  }

  function onReplyKeyDown(event) {
    if (!dom.suggestionsBox.hidden && state.suggestions.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        state.suggestionIndex = (state.suggestionIndex + step + state.suggestions.length) % state.suggestions.length;
        renderSuggestions();
        return;
      }
      if ((event.key === "Tab" && !event.shiftKey) || (event.key === "Enter" && !event.shiftKey && !event.isComposing)) {
        event.preventDefault();
        applySuggestion(state.suggestionIndex);
        return;
      }
      if (event.key === "Escape" || event.key === "Esc") {
        event.preventDefault();
        hideSuggestions();
        return;
      }
    }
    // isComposing / 229: Enter that confirms an IME composition (e.g. Vietnamese Telex).
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendReply();
  }

  function onNoteKeyDown(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      sendNote();
    }
  }

  /* ---------- canned replies ---------- */

  function loadCanned() {
    var session = state.session;
    return api("GET", API + "/canned")
      .then(guard(session, function (data) {
        state.canned = Array.isArray(data.canned) ? data.canned : [];
        renderCannedList();
      }))
      .catch(function (error) {
        handleError(error, { quiet: state.view !== "canned" });
      });
  }

  /* "#co" right before the caret (at the start or after a space) → {start, end, code}. */
  function cannedQuery() {
    var box = dom.replyText;
    if (box.disabled || box.selectionStart !== box.selectionEnd) return null;
    var caret = box.selectionStart;
    var before = box.value.slice(0, caret);
    var match = /(^|\s)#([^\s#]*)$/.exec(before);
    if (!match) return null;
    return { start: caret - match[2].length - 1, end: caret, code: match[2] };
  }

  function fold(text) {
    return String(text || "").toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d");
  }

  function updateSuggestions() {
    var query = cannedQuery();
    if (!query || !state.canned.length) {
      hideSuggestions();
      return;
    }
    var code = fold(query.code);
    var starts = [];
    var contains = [];
    state.canned.forEach(function (entry) {
      var c = fold(entry.code);
      if (c.indexOf(code) === 0) starts.push(entry);
      else if (code && c.indexOf(code) > 0) contains.push(entry);
    });
    var found = starts.concat(contains).slice(0, MAX_SUGGESTIONS);
    if (!found.length) {
      hideSuggestions();
      return;
    }
    var same = found.length === state.suggestions.length && found.every(function (e, i) { return e === state.suggestions[i]; });
    state.suggestions = found;
    if (!same) state.suggestionIndex = 0;
    renderSuggestions();
  }

  function renderSuggestions() {
    dom.suggestionsBox.textContent = "";
    state.suggestions.forEach(function (entry, index) {
      var option = el("li", "suggestion canned-suggestion");
      option.id = "canned-option-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("data-code", entry.code);
      option.setAttribute("aria-selected", index === state.suggestionIndex ? "true" : "false");
      option.appendChild(el("span", "suggestion__code", "#" + entry.code));
      option.appendChild(el("span", "suggestion__text", truncate(entry.text, 90)));
      dom.suggestionsBox.appendChild(option);
    });
    dom.suggestionsBox.hidden = false;
    dom.replyText.setAttribute("aria-expanded", "true");
    dom.replyText.setAttribute("aria-activedescendant", "canned-option-" + state.suggestionIndex);
  }

  function hideSuggestions() {
    state.suggestions = [];
    state.suggestionIndex = 0;
    if (!dom.suggestionsBox) return;
    dom.suggestionsBox.hidden = true;
    dom.suggestionsBox.textContent = "";
    dom.replyText.setAttribute("aria-expanded", "false");
    dom.replyText.removeAttribute("aria-activedescendant");
  }

  function applySuggestion(index) {
    var entry = state.suggestions[index];
    var query = cannedQuery();
    if (!entry || !query) {
      hideSuggestions();
      return;
    }
    var box = dom.replyText;
    var text = String(entry.text || "");
    box.value = box.value.slice(0, query.start) + text + box.value.slice(query.end);
    var caret = query.start + text.length;
    box.setSelectionRange(caret, caret);
    hideSuggestions();
    autoResize(box);
    box.focus();
  }

  function onSuggestionPointer(event) {
    var option = event.target.closest(".suggestion");
    if (!option) return;
    event.preventDefault();   // keep the caret (and focus) in the reply box
    var index = Array.prototype.indexOf.call(dom.suggestionsBox.children, option);
    applySuggestion(index);
  }

  function renderCannedList() {
    dom.cannedList.textContent = "";
    var sorted = state.canned.slice().sort(function (a, b) { return String(a.code).localeCompare(String(b.code), "vi"); });
    if (!sorted.length) {
      dom.cannedList.appendChild(el("li", "canned-list__empty", TEXT.noCanned));
      return;
    }
    sorted.forEach(function (entry) {
      var item = el("li", "canned-item");
      item.setAttribute("data-code", entry.code);
      item.appendChild(el("code", "canned-item__code", "#" + entry.code));
      item.appendChild(el("p", "canned-item__text", entry.text));
      if (isEditor()) {
        var tools = el("div", "canned-item__tools");
        var edit = el("button", "btn btn--small canned-edit", "Sửa");
        edit.type = "button";
        edit.setAttribute("aria-label", "Sửa mẫu câu #" + entry.code);
        var remove = el("button", "btn btn--small btn--danger canned-delete", "Xoá");
        remove.type = "button";
        remove.setAttribute("aria-label", "Xoá mẫu câu #" + entry.code);
        tools.appendChild(edit);
        tools.appendChild(remove);
        item.appendChild(tools);
      }
      dom.cannedList.appendChild(item);
    });
  }

  function cannedEntry(code) {
    for (var i = 0; i < state.canned.length; i++) {
      if (state.canned[i].code === code) return state.canned[i];
    }
    return null;
  }

  function onCannedListClick(event) {
    var item = event.target.closest(".canned-item");
    if (!item) return;
    var entry = cannedEntry(item.getAttribute("data-code"));
    if (!entry) return;
    if (event.target.closest(".canned-edit")) {
      dom.cannedCode.value = entry.code;
      dom.cannedText.value = entry.text;
      dom.cannedText.focus();
    } else if (event.target.closest(".canned-delete")) {
      deleteCanned(entry.code, event.target.closest(".canned-delete"));
    }
  }

  function saveCanned(event) {
    event.preventDefault();
    var code = dom.cannedCode.value.trim().replace(/^#+/, "").toLowerCase();
    var text = dom.cannedText.value.trim();
    if (!code || !text) {
      showError(TEXT.cannedMissing);
      return;
    }
    if (!CANNED_CODE.test(code)) {
      showError(TEXT.cannedBadCode);
      dom.cannedCode.focus();
      return;
    }
    var session = state.session;
    dom.cannedSave.disabled = true;
    clearError();
    api("POST", API + "/canned", { code: code, text: text })
      .then(guard(session, function () {
        dom.cannedCode.value = "";
        dom.cannedText.value = "";
        showNotice(format(TEXT.cannedSaved, { code: code }));
        return loadCanned();
      }))
      .catch(handleError)
      .finally(function () {
        dom.cannedSave.disabled = false;
      });
  }

  function deleteCanned(code, button) {
    var session = state.session;
    button.disabled = true;
    clearError();
    api("DELETE", API + "/canned/" + encodeURIComponent(code), {})
      .then(guard(session, function () {
        showNotice(format(TEXT.cannedDeleted, { code: code }));
        return loadCanned();
      }))
      .catch(function (error) {
        button.disabled = false;
        handleError(error);
      });
  }

  /* ---------- figures ---------- */

  function loadFigures(options) {
    options = options || {};
    var session = state.session;
    var days = dom.figuresDays.value || "7";
    dom.figuresCsv.href = API + "/figures?days=" + encodeURIComponent(days) + "&format=csv";
    return api("GET", API + "/figures?days=" + encodeURIComponent(days))
      .then(guard(session, renderFigures))
      .catch(function (error) {
        handleError(error, { quiet: options.quiet });
      });
  }

  var FIGURE_COLUMNS = ["Ngày", "Nhóm", "Số cuộc chuyển", "Chờ trung vị", "Chờ P90", "Xử lý trung vị", "Đánh giá TB (số lượt)"];

  function cell(row, text, className) {
    var td = el("td", className, text);
    var label = FIGURE_COLUMNS[row.children.length];
    if (label) td.setAttribute("data-label", label);   // the column's name on phones (CSS ::before)
    row.appendChild(td);
    return td;
  }

  function renderFigures(data) {
    var rows = Array.isArray(data.days) ? data.days : [];
    dom.figuresBody.textContent = "";
    rows.forEach(function (day) {
      var tr = el("tr");
      var th = el("th", null, formatDate(day.date));
      th.setAttribute("scope", "row");
      tr.appendChild(th);
      cell(tr, day.team || "Chưa có nhóm");
      cell(tr, day.handed_over === null || day.handed_over === undefined ? "0" : String(day.handed_over), "num");
      cell(tr, formatDuration(day.wait_median_s), "num");
      cell(tr, formatDuration(day.wait_p90_s), "num");
      cell(tr, formatDuration(day.handling_median_s), "num");
      var ratings = Number(day.ratings) || 0;
      var hasAvg = day.rating_avg !== null && day.rating_avg !== undefined && ratings > 0;
      cell(tr, hasAvg ? decimal(day.rating_avg) + " (" + ratings + ")" : "— (" + ratings + ")", "num");
      dom.figuresBody.appendChild(tr);
    });
    if (!rows.length) {
      var tr = el("tr", "figures__empty");
      var td = cell(tr, TEXT.noFigures);
      td.colSpan = 7;
      dom.figuresBody.appendChild(tr);
    }
    var unanswered = Number(data.unanswered_callbacks) || 0;
    dom.figuresCallbacks.textContent = "Gọi lại chưa xử lý: " + unanswered;
    dom.figuresCallbacks.classList.toggle("figures__callbacks--alert", unanswered > 0);
  }

  /* ---------- live updates: server-sent events over fetch ---------- */

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(function () {
      if (!state.me) return;
      if (state.view === "figures") loadFigures({ quiet: true });
      refreshLists({ quiet: true });
    }, REFRESH_DEBOUNCE_MS);
  }

  function isMine(id) {
    if (state.mineIds[id]) return true;
    return !!(state.open && String(state.open.id) === String(id) && state.me && state.open.assigned_to === state.me.username);
  }

  function onChange(data) {
    if (!data || typeof data !== "object") return;
    var id = data.conversation_id === undefined || data.conversation_id === null ? null : String(data.conversation_id);
    scheduleRefresh();
    if (id !== null && id === state.openId) scheduleConversationRefresh();
    if (data.kind === "waiting") {
      alertWaiting(id);
    } else if (data.kind === "message" && data.message && data.message.sender === "citizen" && id !== null && isMine(id)) {
      alertUser(TEXT.notifyMessage, truncate(data.message.text, 120), id);
    }
  }

  function alertWaiting(id) {
    alertUser(TEXT.notifyWaiting, TEXT.notifyWaitingBody, id);
  }

  function alertUser(title, body, conversationId) {
    if (!state.me || state.presence === "offline") return;
    beep();
    notify(title, body, conversationId);
  }

  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!state.audio) {
      try {
        state.audio = new Context();
      } catch (e) {
        return null;
      }
    }
    if (state.audio.state === "suspended" && state.audio.resume) {
      state.audio.resume().catch(function () { /* needs a gesture first */ });
    }
    return state.audio;
  }

  /* Two short tones made with the Web Audio API (no audio file). */
  function beep() {
    var now = Date.now();
    if (now - state.lastBeep < BEEP_MIN_GAP_MS) return;
    state.lastBeep = now;
    var audio = audioContext();
    if (!audio) return;
    try {
      var start = audio.currentTime + 0.01;
      [[880, 0], [1175, 0.16]].forEach(function (tone) {
        var oscillator = audio.createOscillator();
        var gain = audio.createGain();
        var t = start + tone[1];
        oscillator.type = "sine";
        oscillator.frequency.setValueAtTime(tone[0], t);
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.25, t + 0.015);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.13);
        oscillator.connect(gain);
        gain.connect(audio.destination);
        oscillator.start(t);
        oscillator.stop(t + 0.15);
      });
    } catch (e) {
      /* no sound: the list and the notification still tell */
    }
  }

  function notify(title, body, conversationId) {
    if (!("Notification" in window) || window.Notification.permission !== "granted") return;
    try {
      var notification = new window.Notification(title, {
        body: body || "",
        lang: "vi",
        tag: "tthc-console-" + (conversationId || "waiting"),
      });
      notification.onclick = function () {
        window.focus();
        if (conversationId && state.me) openConversation(conversationId);
        notification.close();
      };
    } catch (e) {
      /* e.g. Chrome on Android only shows notifications from a service worker */
    }
  }

  /* The first click (or key) after login may ask for notifications and unlock the sound. */
  function armFirstGesture() {
    document.removeEventListener("click", onFirstGesture, true);
    document.removeEventListener("keydown", onFirstGesture, true);
    document.addEventListener("click", onFirstGesture, true);
    document.addEventListener("keydown", onFirstGesture, true);
  }

  function onFirstGesture() {
    document.removeEventListener("click", onFirstGesture, true);
    document.removeEventListener("keydown", onFirstGesture, true);
    if (!state.me) return;
    audioContext();
    if ("Notification" in window && window.Notification.permission === "default") {
      try {
        var asked = window.Notification.requestPermission();
        if (asked && asked.catch) asked.catch(function () { /* refused */ });
      } catch (e) {
        /* old Safari: callback form only */
        window.Notification.requestPermission(function () {});
      }
    }
  }

  function streamSupported() {
    return typeof fetch === "function" && typeof AbortController === "function" &&
      typeof TextDecoder === "function" && window.ReadableStream !== undefined;
  }

  function setLive(status) {
    dom.live.setAttribute("data-state", status);
    dom.liveText.textContent = status === "up" ? TEXT.liveUp : status === "connecting" ? TEXT.liveConnecting : TEXT.liveDown;
  }

  function stopStream() {
    var stream = state.stream;
    clearTimeout(stream.timer);
    clearTimeout(stream.watchdog);
    stream.timer = null;
    stream.up = false;
    stream.failures = 0;
    var controller = stream.controller;
    stream.controller = null;
    if (controller) controller.abort();
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

  /* The SSE text format: calls onEvent(type, data) for every complete event; keeps Last-Event-ID. */
  function sseParser(onEvent) {
    var buffer = "";
    var data = [];
    var type = "";
    function line(text) {
      if (text === "") {
        if (data.length) onEvent(type || "message", data.join("\n"));
        data = [];
        type = "";
        return;
      }
      if (text.charAt(0) === ":") return;   // comment (keep-alive ping)
      var colon = text.indexOf(":");
      var field = colon < 0 ? text : text.slice(0, colon);
      var value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") type = value;
      else if (field === "id" && value.indexOf("\u0000") < 0) state.lastEventId = value;
    }
    return function (chunk) {
      buffer += chunk;
      // A "\r" at the end may be the first half of "\r\n": keep it for the next chunk.
      var held = "";
      if (buffer.charAt(buffer.length - 1) === "\r") {
        held = "\r";
        buffer = buffer.slice(0, -1);
      }
      var lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() + held;
      lines.forEach(line);
    };
  }

  function startStream() {
    var stream = state.stream;
    if (!state.me || stream.controller) return;
    if (!streamSupported()) {
      setLive("down");
      return;
    }
    clearTimeout(stream.timer);
    var controller = new AbortController();
    var session = state.session;
    stream.controller = controller;
    setLive(stream.failures ? "down" : "connecting");
    function alive() {
      clearTimeout(stream.watchdog);
      stream.watchdog = setTimeout(function () { controller.abort(); }, STREAM_SILENCE_MS);
    }
    function ended(retryAfterMs) {
      if (stream.controller !== controller) return;   // stopped on purpose, or replaced
      clearTimeout(stream.watchdog);
      stream.controller = null;
      stream.up = false;
      setLive("down");
      poll();
      scheduleReconnect(retryAfterMs);
    }
    var headers = { Accept: "text/event-stream" };
    if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
    alive();
    fetch(API + "/events", { headers: headers, credentials: "same-origin", cache: "no-store", signal: controller.signal })
      .then(function (response) {
        if (stream.controller !== controller) return;
        if (response.status === 401) {
          stream.controller = null;
          clearTimeout(stream.watchdog);
          if (session === state.session) leaveConsole(TEXT.sessionEnded);
          return;
        }
        if (!response.ok || !response.body) {
          ended(response.status === 429 ? 60000 : undefined);
          return;
        }
        stream.up = true;
        stream.failures = 0;
        setLive("up");
        scheduleRefresh();   // whatever happened while the stream was down
        if (state.openId) scheduleConversationRefresh();
        var reader = response.body.getReader();
        var decoder = new TextDecoder("utf-8");
        var feed = sseParser(function (type, data) {
          if (session !== state.session || type !== "change") return;
          var parsed;
          try {
            parsed = JSON.parse(data);
          } catch (e) {
            return;
          }
          onChange(parsed);
        });
        function read() {
          return reader.read().then(function (result) {
            if (stream.controller !== controller) return;
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

  /* Every 5 s while the stream is down: the lists (and the open conversation) by polling. */
  function poll() {
    if (!state.me || state.stream.up) return;
    if (state.view === "figures") loadFigures({ quiet: true });
    refreshLists({ quiet: true });
    if (state.openId) loadConversation(state.openId);
  }

  function onVisibilityChange() {
    if (document.visibilityState === "hidden" || !state.me) return;
    var stream = state.stream;
    if (!stream.up && !stream.controller) {
      stream.failures = 0;
      startStream();
    }
    updateClocks();
  }

  /* ---------- start ---------- */

  function init() {
    dom.boot = document.getElementById("boot");
    dom.loginView = document.getElementById("login-view");
    dom.loginForm = document.getElementById("login-form");
    dom.loginUsername = document.getElementById("login-username");
    dom.loginPassword = document.getElementById("login-password");
    dom.loginError = document.getElementById("login-error");
    dom.loginSubmit = document.getElementById("login-submit");
    dom.consoleView = document.getElementById("console-view");
    dom.meName = document.getElementById("me-name");
    dom.meTeam = document.getElementById("me-team");
    dom.live = document.getElementById("live-status");
    dom.liveText = document.getElementById("live-text");
    dom.presence = document.getElementById("presence");
    dom.logout = document.getElementById("logout");
    dom.errorBar = document.getElementById("console-error-bar");
    dom.errorText = document.getElementById("console-error");
    dom.errorClose = document.getElementById("console-error-close");
    dom.notice = document.getElementById("console-notice");
    dom.tabs = Array.prototype.slice.call(document.querySelectorAll("[data-tab]"));
    dom.cannedOpen = document.getElementById("canned-open");
    dom.countWaiting = document.getElementById("count-waiting");
    dom.countMine = document.getElementById("count-mine");
    dom.listPane = document.getElementById("list-pane");
    dom.listTitle = document.getElementById("list-title");
    dom.list = document.getElementById("conversation-list");
    dom.listEmpty = document.getElementById("list-empty");
    dom.conversation = document.getElementById("conversation");
    dom.back = document.getElementById("back");
    dom.convTitle = document.getElementById("conv-title");
    dom.convSub = document.getElementById("conv-sub");
    dom.claim = document.getElementById("claim");
    dom.assign = document.getElementById("assign");
    dom.release = document.getElementById("release");
    dom.close = document.getElementById("close");
    dom.assignForm = document.getElementById("assign-form");
    dom.assignTo = document.getElementById("assign-to");
    dom.assignConfirm = document.getElementById("assign-confirm");
    dom.assignCancel = document.getElementById("assign-cancel");
    dom.closeForm = document.getElementById("close-form");
    dom.closeReason = document.getElementById("close-reason");
    dom.closeConfirm = document.getElementById("close-confirm");
    dom.closeCancel = document.getElementById("close-cancel");
    dom.sideSwitches = Array.prototype.slice.call(document.querySelectorAll("[data-side]"));
    dom.transcript = document.getElementById("transcript");
    dom.replyForm = document.getElementById("reply-form");
    dom.replyHint = document.getElementById("reply-hint");
    dom.suggestionsBox = document.getElementById("canned-suggestions");
    dom.replyText = document.getElementById("reply-text");
    dom.replySend = document.getElementById("reply-send");
    dom.facts = document.getElementById("conv-facts");
    dom.dossier = document.getElementById("conv-dossier");
    dom.intents = document.getElementById("conv-intents");
    dom.notes = document.getElementById("notes");
    dom.noteForm = document.getElementById("note-form");
    dom.noteText = document.getElementById("note-text");
    dom.noteSend = document.getElementById("note-send");
    dom.figures = document.getElementById("figures");
    dom.figuresDays = document.getElementById("figures-days");
    dom.figuresBody = document.getElementById("figures-body");
    dom.figuresCallbacks = document.getElementById("figures-callbacks");
    dom.figuresCsv = document.getElementById("figures-csv");
    dom.cannedPanel = document.getElementById("canned-panel");
    dom.cannedForm = document.getElementById("canned-form");
    dom.cannedCode = document.getElementById("canned-code");
    dom.cannedText = document.getElementById("canned-text");
    dom.cannedSave = document.getElementById("canned-save");
    dom.cannedList = document.getElementById("canned-list");

    dom.convTitle.setAttribute("tabindex", "-1");

    dom.loginForm.addEventListener("submit", onLoginSubmit);
    dom.logout.addEventListener("click", logout);
    dom.presence.addEventListener("change", onPresenceChange);
    dom.errorClose.addEventListener("click", clearError);
    dom.tabs.forEach(function (button) {
      button.addEventListener("click", function () { selectTab(button.getAttribute("data-tab")); });
    });
    dom.cannedOpen.addEventListener("click", openCannedPanel);
    dom.list.addEventListener("click", onListClick);
    dom.back.addEventListener("click", goBack);
    dom.claim.addEventListener("click", claim);
    dom.release.addEventListener("click", release);
    dom.close.addEventListener("click", toggleCloseForm);
    dom.assign.addEventListener("click", toggleAssignForm);
    dom.closeForm.addEventListener("submit", submitClose);
    dom.assignForm.addEventListener("submit", submitAssign);
    dom.closeCancel.addEventListener("click", function () { hideForm(dom.closeForm, dom.close); dom.close.focus(); });
    dom.assignCancel.addEventListener("click", function () { hideForm(dom.assignForm, dom.assign); dom.assign.focus(); });
    [dom.closeForm, dom.assignForm].forEach(function (form) {
      form.addEventListener("keydown", function (event) {
        if (event.key !== "Escape" && event.key !== "Esc") return;
        var opener = form === dom.closeForm ? dom.close : dom.assign;
        hideForm(form, opener);
        opener.focus();
      });
    });
    dom.sideSwitches.forEach(function (button) {
      button.addEventListener("click", function () { setSide(button.getAttribute("data-side")); });
    });
    dom.replyForm.addEventListener("submit", function (event) {
      event.preventDefault();
      sendReply();
    });
    dom.replyText.addEventListener("keydown", onReplyKeyDown);
    dom.replyText.addEventListener("input", function () {
      autoResize(dom.replyText);
      updateSuggestions();
    });
    dom.replyText.addEventListener("click", updateSuggestions);
    dom.replyText.addEventListener("blur", function () {
      setTimeout(function () {
        if (document.activeElement !== dom.replyText) hideSuggestions();
      }, 150);
    });
    dom.suggestionsBox.addEventListener("mousedown", onSuggestionPointer);
    dom.noteForm.addEventListener("submit", sendNote);
    dom.noteText.addEventListener("keydown", onNoteKeyDown);
    dom.noteText.addEventListener("input", function () { autoResize(dom.noteText); });
    dom.figuresDays.addEventListener("change", function () { loadFigures(); });
    dom.cannedForm.addEventListener("submit", saveCanned);
    dom.cannedForm.addEventListener("reset", function () { dom.cannedCode.focus(); });
    dom.cannedList.addEventListener("click", onCannedListClick);
    window.addEventListener("hashchange", onHashChange);
    document.addEventListener("visibilitychange", onVisibilityChange);

    resume();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
