/* Staff page, tab "models": train, compare with the active model, activate, roll back.
 * See admin.js for Admin.api / Admin.el; the API is bot/admin/models.py. */
(function () {
  "use strict";
  var el = function () { return Admin.el.apply(null, arguments); };
  var TEXT = {
    title: "Huấn luyện & mô hình",
    intro: "Huấn luyện lại mô hình với các câu ví dụ mới, so sánh với mô hình đang chạy trên các câu hỏi kiểm tra " +
      "(không dùng để huấn luyện), rồi kích hoạt. Việc huấn luyện chạy nền, không làm chậm trò chuyện của người dân. " +
      "“Huấn luyện” ghi nhớ ngay các câu ví dụ mới (khoảng một phút, gồm cả đánh giá); “Tinh chỉnh” giúp mô hình " +
      "hiểu cả những câu tương tự (vài phút).",
    train: "Huấn luyện",
    trainFinetune: "Tinh chỉnh mô hình (vài phút)",
    trainFull: "Huấn luyện đầy đủ (chậm hơn)",
    unchanged: "Dữ liệu huấn luyện không thay đổi: đã có mô hình này, không cần huấn luyện lại.",
    running: "Đang huấn luyện…",
    already: "Một lượt huấn luyện đang chạy: đang theo dõi lượt đó.",
    done: "Huấn luyện xong. Xem kết quả bên dưới rồi bấm “Kích hoạt” nếu mô hình mới tốt hơn.",
    failed: "Huấn luyện thất bại: ",
    activate: "Kích hoạt",
    rollback: "Quay lại",
    activating: "Đang kích hoạt mô hình… (mô hình cũ vẫn trả lời trong lúc chờ)",
    activated: "Đã kích hoạt mô hình ",
    crossValidate: "Kiểm định chéo",
    cvStarted: "Đang kiểm định chéo 3 lần trong nền (khoảng 10–15 phút).",
    models: "Các mô hình",
    none: "Chưa có mô hình nào.",
    active: "đang chạy",
    previous: "trước đó",
    compare: "So sánh mô hình mới với mô hình đang chạy",
    metric: "Chỉ số", newModel: "Mô hình mới", activeModel: "Đang chạy",
    accuracy: "Độ chính xác ý định", procedure: "Độ chính xác thủ tục",
    perIntent: "Theo từng ý định (độ chuẩn xác P / độ phủ R / F1)",
    intent: "Ý định", confused: "Các cặp hay bị nhầm", expected: "Đúng là", got: "Mô hình đoán", count: "Số câu",
    changed: "Các câu hỏi đổi câu trả lời", better: "đúng hơn", worse: "sai hơn", other: "khác",
    question: "Câu hỏi", before: "Trước", after: "Sau", verdict: "Kết quả",
    noChanged: "Không có câu hỏi nào đổi câu trả lời.",
    created: "Tạo lúc", by: "Người huấn luyện", activatedBy: "Người kích hoạt", strategy: "Cách huấn luyện",
    seconds: "Thời gian", cv: "Kiểm định chéo", id: "Mã mô hình",
    strategies: { quick: "ghi nhớ câu ví dụ mới (nhanh)", finetune: "tinh chỉnh mô hình đang chạy", full: "huấn luyện đầy đủ" },
    sets: { "nlu_eval/written": "Bộ kiểm tra (có dấu)", "nlu_eval/stripped": "Bộ kiểm tra (không dấu)",
      "nlu_independent/written": "Bộ độc lập (có dấu)", "nlu_independent/stripped": "Bộ độc lập (không dấu)" },
  };
  var state = { panel: null, job: null, timer: null, models: [], result: null };

  function pct(value) {
    return value === null || value === undefined ? "–" : (100 * value).toFixed(1).replace(".", ",") + "%";
  }

  function when(iso) {
    if (!iso) return "–";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("vi-VN");
  }

  function show(panel) {
    state.panel = panel;
    panel.textContent = "";
    panel.appendChild(el("h2", { text: TEXT.title }));
    panel.appendChild(el("p", { text: TEXT.intro }));
    var trainButton = el("button", { type: "button", id: "models-train", text: TEXT.train, onclick: function () { train(null); } });
    var finetuneButton = el("button", { type: "button", id: "models-train-finetune", "class": "secondary",
      text: TEXT.trainFinetune, onclick: function () { train("finetune"); } });
    var fullButton = el("button", { type: "button", id: "models-train-full", "class": "secondary", text: TEXT.trainFull,
      onclick: function () { train("full"); } });
    panel.appendChild(el("div", { "class": "models__actions" }, trainButton, " ", finetuneButton, " ", fullButton));
    panel.appendChild(el("div", { id: "models-progress", "class": "models__progress", role: "status", "aria-live": "polite",
      hidden: true }, el("progress", { id: "models-progress-bar", max: "100", value: "0" }),
      el("span", { id: "models-progress-text" })));
    panel.appendChild(el("div", { id: "models-result" }));
    panel.appendChild(el("h3", { text: TEXT.models }));
    panel.appendChild(el("div", { id: "models-list" }));
    load();
  }

  function $(id) { return document.getElementById(id); }

  function busy(on) {
    if ($("models-train")) $("models-train").disabled = on;
    if ($("models-train-full")) $("models-train-full").disabled = on;
    if ($("models-train-finetune")) $("models-train-finetune").disabled = on;
  }

  function load() {
    return Admin.api("GET", "/admin/api/models").then(function (data) {
      state.models = data.models;
      renderList(data);
      if (data.job && !state.job) follow(data.job);
    }).catch(function (e) { Admin.error(e.userMessage); });
  }

  // strategy: null (the quickest that applies: a memory of new examples, else fine-tuning), "finetune", "full"
  function train(strategy) {
    busy(true);
    Admin.api("POST", "/admin/api/models/train", strategy ? { strategy: strategy } : {}).then(function (data) {
      if (!data.job) {
        busy(false);
        Admin.notice(TEXT.unchanged);
        return load();
      }
      if (data.already_running) Admin.notice(TEXT.already);
      follow(data.job);
    }).catch(function (e) { busy(false); Admin.error(e.userMessage); });
  }

  function follow(job) {
    state.job = job;
    busy(true);
    $("models-progress").hidden = false;
    poll();
  }

  function poll() {
    clearTimeout(state.timer);
    if (!state.job) return;
    Admin.api("GET", "/admin/api/models/train/" + encodeURIComponent(state.job)).then(function (data) {
      var progress = data.progress || {};
      $("models-progress-bar").value = progress.percent || 0;
      var text = (progress.label || TEXT.running) + " — " + (progress.percent || 0) + "%";
      if (progress.epochs) text += " (vòng " + progress.epoch + "/" + progress.epochs + ")";
      if (progress.folds) text += " (lần " + progress.fold + "/" + progress.folds + ")";
      $("models-progress-text").textContent = text;
      if (data.state === "running") {
        state.timer = setTimeout(poll, 1000);
        return;
      }
      state.job = null;
      busy(false);
      if (data.state === "failed") {
        Admin.error(TEXT.failed + (data.error || ""));
      } else if (data.unchanged) {
        Admin.notice(TEXT.unchanged);
      } else if (data.kind === "cross_validation") {
        Admin.notice(TEXT.cv + ": " + pct(data.metrics && data.metrics.cross_validation.intent_accuracy));
      } else {
        Admin.notice(TEXT.done);
        renderResult(data);
      }
      load();
    }).catch(function (e) {
      Admin.error(e.userMessage);
      state.timer = setTimeout(poll, 3000);
    });
  }

  function table(headers, rows, caption) {
    return el("table", { "class": "models__table" }, caption ? el("caption", { text: caption }) : null,
      el("thead", {}, el("tr", {}, headers.map(function (h) { return el("th", { scope: "col", text: h }); }))),
      el("tbody", {}, rows.map(function (row) {
        return el("tr", {}, row.map(function (cell, i) {
          return i === 0 ? el("th", { scope: "row", text: String(cell) }) : el("td", { text: String(cell) });
        }));
      })));
  }

  function renderResult(data) {
    var box = $("models-result");
    box.textContent = "";
    var fresh = data.metrics || {}, old = data.active_metrics || {};
    var hasOld = !!data.active_metrics;
    box.appendChild(el("h3", { text: TEXT.compare }));
    var headers = [TEXT.metric, TEXT.newModel + " (" + data.model + ")"];
    if (hasOld) headers.push(TEXT.activeModel + " (" + data.compared_with + ")");
    var rows = [[TEXT.accuracy, pct(fresh.intent_accuracy)].concat(hasOld ? [pct(old.intent_accuracy)] : []),
      [TEXT.procedure, pct(fresh.procedure_accuracy)].concat(hasOld ? [pct(old.procedure_accuracy)] : [])];
    Object.keys(fresh.by_set || {}).forEach(function (key) {
      rows.push([TEXT.sets[key] || key, pct(fresh.by_set[key])].concat(hasOld ? [pct((old.by_set || {})[key])] : []));
    });
    box.appendChild(table(headers, rows));
    var intents = Object.keys(fresh.per_intent || {});
    var prf = function (r) { return r ? pct(r.precision) + " / " + pct(r.recall) + " / " + r.f1.toFixed(2) : "–"; };
    box.appendChild(table([TEXT.intent, TEXT.newModel].concat(hasOld ? [TEXT.activeModel] : []),
      intents.map(function (name) {
        return [name, prf(fresh.per_intent[name])].concat(hasOld ? [prf((old.per_intent || {})[name])] : []);
      }), TEXT.perIntent));
    if ((fresh.confused || []).length) box.appendChild(table([TEXT.expected, TEXT.got, TEXT.count],
      fresh.confused.map(function (c) { return [c.expected, c.got, c.count]; }), TEXT.confused));
    else box.appendChild(el("p", { text: TEXT.confused + ": không có." }));
    if (hasOld) {
      var changed = data.changed || [];
      box.appendChild(el("h3", { text: TEXT.changed + " (" + changed.length + ")" }));
      if (!changed.length) box.appendChild(el("p", { text: TEXT.noChanged }));
      else box.appendChild(table([TEXT.question, TEXT.expected, TEXT.before, TEXT.after, TEXT.verdict],
        changed.map(function (c) {
          var label = function (i, p) { return i + (p ? " · " + p : ""); };
          return [c.text, label(c.expected, c.expected_procedure), label(c.old, c.old_procedure),
            label(c.new, c.new_procedure), TEXT[c.verdict] || c.verdict];
        })));
    }
    var activateButton = el("button", { type: "button", text: TEXT.activate + " " + data.model,
      onclick: function () { activate(data.model); } });
    box.appendChild(el("p", {}, activateButton));
  }

  function activate(id) {
    Admin.notice(TEXT.activating);
    Array.prototype.forEach.call(state.panel.querySelectorAll("button"), function (b) { b.disabled = true; });
    return Admin.api("POST", "/admin/api/models/" + encodeURIComponent(id) + "/activate", {}).then(function () {
      Admin.notice(TEXT.activated + id + ".");
    }).catch(function (e) { Admin.error(e.userMessage); }).then(function () {
      Array.prototype.forEach.call(state.panel.querySelectorAll("button"), function (b) { b.disabled = false; });
      if (state.job) busy(true);
      return load();
    });
  }

  function crossValidate(id) {
    Admin.api("POST", "/admin/api/models/" + encodeURIComponent(id) + "/cross-validate", {}).then(function (data) {
      Admin.notice(TEXT.cvStarted);
      follow(data.job);
    }).catch(function (e) { Admin.error(e.userMessage); });
  }

  function showComparison(id) {
    Admin.api("GET", "/admin/api/models/" + encodeURIComponent(id)).then(function (data) {
      var m = data.model;
      var old = m.compared_with ? state.models.filter(function (x) { return x.id === m.compared_with; })[0] : null;
      renderResult({ model: m.id, metrics: m.metrics, compared_with: m.compared_with,
        active_metrics: old ? old.metrics : null, changed: m.changed || [] });
    }).catch(function (e) { Admin.error(e.userMessage); });
  }

  function renderList(data) {
    var box = $("models-list");
    box.textContent = "";
    if (!data.models.length) {
      box.appendChild(el("p", { text: TEXT.none }));
      return;
    }
    var rows = data.models.map(function (m) {
      var tags = [m.active ? TEXT.active : null, m.previous ? TEXT.previous : null].filter(Boolean).join(", ");
      var actions = el("td", {});
      if (!m.active) {
        actions.appendChild(el("button", { type: "button", "data-model": m.id, "class": m.previous ? "models__rollback" : "",
          text: m.previous ? TEXT.rollback : TEXT.activate, onclick: function () { activate(m.id); } }));
      }
      if (m.metrics) actions.appendChild(el("button", { type: "button", "class": "secondary", text: "Chi tiết",
        onclick: function () { showComparison(m.id); } }));
      if (!m.cross_validation && m.trained_by !== "make model") actions.appendChild(el("button", { type: "button",
        "class": "secondary", text: TEXT.crossValidate, onclick: function () { crossValidate(m.id); } }));
      return el("tr", { "data-model": m.id, "class": m.active ? "models__active" : "" },
        el("th", { scope: "row" }, m.id, tags ? el("small", { text: " (" + tags + ")" }) : null),
        el("td", { text: when(m.created) }),
        el("td", { text: m.trained_by || "–" }),
        el("td", { text: (TEXT.strategies[m.strategy] || m.strategy || "–") +
          (m.train_seconds ? " · " + Math.round(m.train_seconds) + " giây" : "") }),
        el("td", { text: m.metrics ? pct(m.metrics.intent_accuracy) : "–" }),
        el("td", { text: m.cross_validation ? pct(m.cross_validation.intent_accuracy) : "–" }),
        el("td", { text: m.activated_by ? m.activated_by + " · " + when(m.activated_at) : "–" }),
        actions);
    });
    box.appendChild(el("table", { "class": "models__table", id: "models-table" },
      el("thead", {}, el("tr", {}, [TEXT.id, TEXT.created, TEXT.by, TEXT.strategy, TEXT.accuracy, TEXT.cv,
        TEXT.activatedBy, ""].map(function (h) { return el("th", { scope: "col", text: h }); }))),
      el("tbody", {}, rows)));
  }

  Admin.tabs.models = { show: show };
})();
