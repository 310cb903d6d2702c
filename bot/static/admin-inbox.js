/* Staff page, tabs "inbox" (Câu chưa hiểu) and "intents" (Ý định & ví dụ).
 * See admin.js for Admin.api / Admin.el; the API is bot/admin/inbox.py.
 *
 * Hooks for browser tests: every inbox row is <tr data-id="…" class="inbox-row">, with
 * select.inbox-intent, input.inbox-procedure and buttons [data-action=assign|out-of-scope];
 * every intent row is <tr data-intent="…">, every example <li data-example="…">. */
(function () {
  "use strict";
  var el = function () { return Admin.el.apply(null, arguments); };
  var TEXT = {
    inboxTitle: "Câu chưa hiểu",
    inboxIntro: "Những câu người dân hỏi mà trợ lý không hiểu, không chắc, phải hỏi lại, chuyển cho người, " +
      "bị người dân bảo “không phải” hoặc bị tình nguyện viên báo trả lời sai. Câu giống nhau được gộp lại, " +
      "câu gặp nhiều nhất ở trên. Thông tin cá nhân (tên, số điện thoại, số căn cước, địa chỉ, mã hồ sơ) đã được " +
      "thay bằng giá trị mẫu. Chọn ý định đúng (và mã thủ tục nếu có) rồi bấm “Gán”: câu này thành câu ví dụ " +
      "huấn luyện. Sau đó vào “Huấn luyện & mô hình” để huấn luyện lại.",
    empty: "Không còn câu nào cần xem. Cảm ơn bạn!",
    question: "Câu hỏi", count: "Số lần", reasons: "Lý do", lastSeen: "Lần cuối", intent: "Ý định",
    procedure: "Mã thủ tục", actions: "Xử lý",
    procedureHint: "ví dụ: ho-chieu (để trống nếu không có)",
    assign: "Gán", outOfScope: "Ngoài phạm vi",
    assigned: "Đã thêm câu ví dụ vào ý định “{intent}” (tệp {file}).",
    markedOut: "Đã đánh dấu câu này là ngoài phạm vi (tệp {file}).",
    chooseIntent: "Bạn chọn ý định trước khi bấm “Gán”.",
    loading: "Đang tải…",
    intentsTitle: "Ý định & ví dụ",
    intentsIntro: "Mỗi ý định cần ít nhất {min} câu ví dụ. “Trùng” là cùng một câu (bỏ dấu, chữ hoa, dấu câu) " +
      "ghi hai lần trong một ý định; “Mâu thuẫn” là cùng một câu nằm ở hai ý định khác nhau: mô hình sẽ " +
      "học sai, bạn nên sửa hoặc xoá một bên.",
    name: "Ý định", examples: "Số câu ví dụ", topic: "Chủ đề", problems: "Cảnh báo",
    few: "Ít hơn {min} câu ví dụ", duplicates: "{n} câu trùng", conflicts: "{n} mâu thuẫn",
    open: "Xem câu ví dụ",
    conflictsTitle: "Mâu thuẫn giữa các ý định",
    noConflicts: "Không có mâu thuẫn nào.",
    conflictLine: "“{text}” nằm ở: {intents}",
    examplesOf: "Câu ví dụ của “{name}”",
    back: "← Danh sách ý định",
    addLabel: "Thêm câu ví dụ",
    addHint: "Đánh dấu tên thủ tục bằng [tên thủ tục](procedure), ví dụ: làm [hộ chiếu](procedure) cần gì",
    add: "Thêm", added: "Đã thêm câu ví dụ.",
    edit: "Sửa", save: "Lưu", cancel: "Huỷ", saved: "Đã lưu.",
    move: "Chuyển sang", moved: "Đã chuyển câu ví dụ sang “{intent}”.",
    remove: "Xoá", removed: "Đã xoá câu ví dụ.", confirmRemove: "Xoá câu ví dụ này?\n\n{text}",
    learned: "mới thêm", file: "tệp {file}",
    tablesTitle: "Từ đồng nghĩa và bảng tra cứu",
    noExamples: "Chưa có câu ví dụ nào.",
  };
  var INTENT_LABELS = {
    ask_papers: "Hỏi giấy tờ cần chuẩn bị", ask_fee: "Hỏi lệ phí", ask_duration: "Hỏi thời gian giải quyết",
    ask_where: "Hỏi nơi nộp hồ sơ", ask_how: "Hỏi cách làm, cách nộp", ask_procedure: "Hỏi chung về thủ tục",
    start_dossier: "Muốn làm hồ sơ nháp", check_status: "Hỏi tình trạng hồ sơ", request_human: "Muốn gặp người",
    greet: "Chào hỏi", thank: "Cảm ơn", goodbye: "Tạm biệt", bot_capabilities: "Hỏi trợ lý làm được gì",
    out_of_scope: "Ngoài phạm vi", affirm: "Đồng ý", deny: "Từ chối", inform: "Trả lời thông tin",
    show_procedures: "Xem danh sách thủ tục", none_of_these: "“Không phải cái đó”",
  };
  var state = { intents: [], reasons: {} };

  function format(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, key) { return values[key] === undefined ? "" : String(values[key]); });
  }

  function when(iso) {
    if (!iso) return "–";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("vi-VN");
  }

  function label(intent) {
    return INTENT_LABELS[intent] ? INTENT_LABELS[intent] + " (" + intent + ")" : intent;
  }

  function intentSelect(selected, className, emptyLabel) {
    var compact = className === "example-move";
    var select = el("select", { "class": (compact ? "" : "field__input field__input--small ") + (className || ""),
      "aria-label": compact ? TEXT.move : TEXT.intent });
    if (emptyLabel !== undefined) select.appendChild(el("option", { value: "", text: emptyLabel }));
    state.intents.forEach(function (name) {
      select.appendChild(el("option", { value: name, text: label(name), selected: name === selected }));
    });
    return select;
  }

  function fail(error) { Admin.error(error.userMessage || String(error)); }

  /* ---- inbox ---------------------------------------------------------------------------- */

  function showInbox(panel) {
    panel.textContent = "";
    panel.appendChild(el("h2", { text: TEXT.inboxTitle }));
    panel.appendChild(el("p", { "class": "muted", text: TEXT.inboxIntro }));
    var holder = el("div", { "class": "tablewrap", id: "inbox-list" }, el("p", { text: TEXT.loading }));
    panel.appendChild(holder);
    Admin.api("GET", "/admin/api/inbox").then(function (data) {
      state.intents = data.intents || [];
      state.reasons = data.reasons || {};
      renderInbox(holder, data.items || []);
    }, fail);
  }

  function renderInbox(holder, items) {
    holder.textContent = "";
    if (!items.length) {
      holder.appendChild(el("p", { id: "inbox-empty", text: TEXT.empty }));
      return;
    }
    var head = el("tr", null, [TEXT.question, TEXT.count, TEXT.reasons, TEXT.lastSeen, TEXT.intent, TEXT.procedure,
      TEXT.actions].map(function (t) { return el("th", { scope: "col", text: t }); }));
    var body = el("tbody");
    items.forEach(function (item) { body.appendChild(inboxRow(item, holder)); });
    holder.appendChild(el("table", { "class": "inbox" }, el("thead", null, head), body));
  }

  function inboxRow(item, holder) {
    var select = intentSelect(item.suggested_intent, "inbox-intent", "— chọn —");
    var procedure = el("input", { type: "text", "class": "field__input field__input--small inbox-procedure",
      value: item.suggested_procedure || "", placeholder: TEXT.procedureHint, "aria-label": TEXT.procedure,
      autocomplete: "off", spellcheck: "false" });
    var row = el("tr", { "class": "inbox-row", "data-id": item.id });
    var reasons = (item.reasons || []).map(function (r) { return state.reasons[r] || r; }).join(", ");
    var assign = el("button", { type: "button", "class": "btn btn--small btn--primary", "data-action": "assign",
      text: TEXT.assign, onclick: function () {
        if (!select.value) { Admin.error(TEXT.chooseIntent); select.focus(); return; }
        send(row, item, { intent: select.value, procedure: procedure.value.trim() || null }, holder);
      } });
    var out = el("button", { type: "button", "class": "btn btn--small btn--ghost", "data-action": "out-of-scope",
      text: TEXT.outOfScope, onclick: function () { send(row, item, { out_of_scope: true }, holder); } });
    [el("td", { "class": "inbox-text", text: item.text }), el("td", { text: String(item.count) }),
      el("td", { text: reasons }), el("td", { text: when(item.last_seen) }), el("td", null, select),
      el("td", null, procedure), el("td", null, assign, " ", out)].forEach(function (cell) { row.appendChild(cell); });
    return row;
  }

  function send(row, item, body, holder) {
    Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = true; });
    Admin.api("POST", "/admin/api/inbox/" + encodeURIComponent(item.id), body).then(function (data) {
      var file = data.example && data.example.file;
      Admin.notice(body.out_of_scope ? format(TEXT.markedOut, { file: file })
        : format(TEXT.assigned, { intent: body.intent, file: file }));
      row.parentNode.removeChild(row);
      if (!holder.querySelector(".inbox-row")) renderInbox(holder, []);
    }, function (error) {
      Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = false; });
      fail(error);
    });
  }

  /* ---- intents and examples ------------------------------------------------------------- */

  function showIntents(panel) {
    panel.textContent = "";
    panel.appendChild(el("h2", { text: TEXT.intentsTitle }));
    var holder = el("div", { id: "intents-view" }, el("p", { text: TEXT.loading }));
    panel.appendChild(holder);
    loadIntents(holder);
  }

  function loadIntents(holder) {
    Admin.api("GET", "/admin/api/intents").then(function (data) {
      state.intents = (data.intents || []).map(function (i) { return i.name; });
      renderIntents(holder, data);
    }, fail);
  }

  function renderIntents(holder, data) {
    holder.textContent = "";
    var min = data.min_examples || 20;
    holder.appendChild(el("p", { "class": "muted", text: format(TEXT.intentsIntro, { min: min }) }));
    var head = el("tr", null, [TEXT.name, TEXT.examples, TEXT.topic, TEXT.problems, ""].map(function (t) {
      return el("th", { scope: "col", text: t });
    }));
    var body = el("tbody");
    (data.intents || []).forEach(function (intent) {
      var problems = [];
      if (intent.warning) problems.push(format(TEXT.few, { min: min }));
      if (intent.duplicates) problems.push(format(TEXT.duplicates, { n: intent.duplicates }));
      if (intent.conflicts && intent.conflicts.length) problems.push(format(TEXT.conflicts, { n: intent.conflicts.length }));
      body.appendChild(el("tr", { "data-intent": intent.name, "class": problems.length ? "intent-row intent-row--warn" : "intent-row" },
        el("td", { text: label(intent.name) }), el("td", { text: String(intent.count) }),
        el("td", { text: intent.topic }), el("td", { "class": "intent-problems", text: problems.join("; ") }),
        el("td", null, el("button", { type: "button", "class": "btn btn--small", text: TEXT.open,
          onclick: function () { showExamples(holder, intent.name, "intent"); } }))));
    });
    holder.appendChild(el("div", { "class": "tablewrap" }, el("table", { "class": "intents-table" }, el("thead", null, head), body)));
    holder.appendChild(el("h3", { text: TEXT.conflictsTitle }));
    var conflicts = (data.issues || []).filter(function (i) { return i.kind === "conflict"; });
    holder.appendChild(conflicts.length ? el("ul", { id: "intents-conflicts" }, conflicts.map(function (c) {
      return el("li", { text: format(TEXT.conflictLine, { text: c.text, intents: c.intents.join(", ") }) });
    })) : el("p", { text: TEXT.noConflicts }));
    if ((data.tables || []).length) {
      holder.appendChild(el("h3", { text: TEXT.tablesTitle }));
      holder.appendChild(el("ul", null, data.tables.map(function (t) {
        return el("li", null, el("button", { type: "button", "class": "btn btn--small btn--ghost",
          text: t.kind + ": " + t.name + " (" + t.count + ")",
          onclick: function () { showExamples(holder, t.name, t.kind); } }));
      })));
    }
  }

  function showExamples(holder, name, kind) {
    var url = "/admin/api/intents/" + encodeURIComponent(name) + (kind === "intent" ? "" : "?kind=" + encodeURIComponent(kind));
    Admin.api("GET", url).then(function (data) { renderExamples(holder, name, kind, data.examples || []); }, fail);
  }

  function renderExamples(holder, name, kind, examples) {
    holder.textContent = "";
    holder.appendChild(el("button", { type: "button", "class": "btn btn--ghost", text: TEXT.back,
      onclick: function () { loadIntents(holder); } }));
    holder.appendChild(el("h3", { text: format(TEXT.examplesOf, { name: kind === "intent" ? label(name) : name }) }));
    holder.appendChild(addForm(holder, name, kind));
    if (!examples.length) holder.appendChild(el("p", { text: TEXT.noExamples }));
    holder.appendChild(el("ul", { "class": "examples" }, examples.map(function (example) {
      return exampleItem(holder, name, kind, example);
    })));
  }

  function addForm(holder, name, kind) {
    var input = el("input", { type: "text", "class": "field__input", id: "example-new", maxlength: "500",
      autocomplete: "off", placeholder: TEXT.addHint });
    var form = el("form", { "class": "inlineform", onsubmit: function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      var body = { text: text };
      body[kind] = name;
      Admin.api("POST", "/admin/api/examples", body).then(function () {
        Admin.notice(TEXT.added);
        showExamples(holder, name, kind);
      }, fail);
    } }, el("label", { "class": "field__label", "for": "example-new", text: TEXT.addLabel }),
      el("div", { "class": "inlineform__row" }, input,
        el("button", { type: "submit", "class": "btn btn--primary", text: TEXT.add })));
    return form;
  }

  function exampleItem(holder, name, kind, example) {
    var item = el("li", { "data-example": example.id, "class": "example" });
    var text = el("span", { "class": "example__text", text: example.text });
    var meta = el("span", { "class": "muted" }, " · " + format(TEXT.file, { file: example.file }) +
      (example.learned ? " · " + TEXT.learned : ""));
    var edit = el("button", { type: "button", "class": "btn btn--small", "data-action": "edit", text: TEXT.edit,
      onclick: function () { editForm(holder, name, kind, example, item); } });
    var remove = el("button", { type: "button", "class": "btn btn--small btn--danger", "data-action": "delete",
      text: TEXT.remove, onclick: function () {
        if (!window.confirm(format(TEXT.confirmRemove, { text: example.text }))) return;
        Admin.api("DELETE", "/admin/api/examples/" + encodeURIComponent(example.id)).then(function () {
          Admin.notice(TEXT.removed);
          showExamples(holder, name, kind);
        }, fail);
      } });
    item.appendChild(text);
    item.appendChild(meta);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(edit);
    if (kind === "intent") {
      var target = intentSelect(name, "example-move");
      var move = el("button", { type: "button", "class": "btn btn--small btn--ghost", "data-action": "move",
        text: TEXT.move, onclick: function () {
          if (!target.value || target.value === name) return;
          change(example, { intent: target.value }, format(TEXT.moved, { intent: target.value }), holder, name, kind);
        } });
      item.appendChild(document.createTextNode(" "));
      item.appendChild(move);
      item.appendChild(target);
    }
    item.appendChild(document.createTextNode(" "));
    item.appendChild(remove);
    return item;
  }

  function editForm(holder, name, kind, example, item) {
    var input = el("input", { type: "text", "class": "field__input", value: example.text, maxlength: "500",
      "aria-label": TEXT.edit });
    var form = el("form", { "class": "inlineform__row", onsubmit: function (event) {
      event.preventDefault();
      change(example, { text: input.value.trim() }, TEXT.saved, holder, name, kind);
    } }, input, el("button", { type: "submit", "class": "btn btn--small btn--primary", text: TEXT.save }),
      el("button", { type: "button", "class": "btn btn--small btn--ghost", text: TEXT.cancel,
        onclick: function () { showExamples(holder, name, kind); } }));
    item.textContent = "";
    item.appendChild(form);
    input.focus();
  }

  function change(example, body, message, holder, name, kind) {
    Admin.api("PUT", "/admin/api/examples/" + encodeURIComponent(example.id), body).then(function () {
      Admin.notice(message);
      showExamples(holder, name, kind);
    }, fail);
  }

  Admin.tabs.inbox = { show: showInbox };
  Admin.tabs.intents = { show: showIntents };
})();
