/* Staff page, tab "procedures": see admin.js for Admin.api / Admin.el.
 *
 * The list (search, records with unverified fields and the oldest checked_on first, marked), an
 * editor and the version history. The editor is the record's YAML in a textarea (every field,
 * exactly the file that will be written) beside a read-only view of the key fields; "Áp dụng"
 * sends the text to POST procedures/parse (the loader's YAML reader), then PUTs the record (POST
 * for a new one) and shows the server's field-named error or its success notice.
 */
(function () {
  "use strict";
  var API = "/admin/api/procedures";
  var PAGE = 50;
  var FIELDS = {
    code: "mã thủ tục", agency: "cơ quan", level: "cấp", fee: "lệ phí", duration: "thời hạn",
    papers: "giấy tờ", legal_basis: "căn cứ pháp lý", steps: "các bước", submit: "nơi nộp",
  };
  var METHODS = { truc_tiep: "Trực tiếp", truc_tuyen: "Trực tuyến", buu_chinh: "Qua bưu chính" };
  var ACTIONS = { edited: "sửa", created: "thêm mới", from_import: "kiểm tra bản nhập từ CSDL quốc gia" };
  var TEMPLATE = [
    "id: ma-thu-tuc-moi", "code: null", "name: Tên đầy đủ của thủ tục", "short_name: tên ngắn của thủ tục",
    "field: Lĩnh vực", "level: xa", "agency: \"Ủy ban nhân dân cấp xã\"", "aliases:", "  - tên gọi thường dùng",
    "steps:", "  - \"Bước 1: …\"", "channels:", "  - method: truc_tiep", "    duration: \"03 ngày làm việc\"",
    "    working_days: 3", "    fee: \"Không thu lệ phí\"", "    fee_vnd: 0", "papers:", "  - case: \"Mọi trường hợp\"",
    "    items:", "      - name: \"Tờ khai\"", "        originals: 1", "        copies: 0", "subjects: \"Công dân Việt Nam\"",
    "result: \"Kết quả\"", "conditions: \"\"", "legal_basis:", "  - number: \"…\"", "    title: \"…\"",
    "    issued: null", "    issuer: \"…\"", "submit:", "  where: \"…\"", "  online: khong", "  online_url: null",
    "  post: false", "sources:", "  - title: \"…\"", "checked_on: " + new Date().toISOString().slice(0, 10),
    "unverified: []", "",
  ].join("\n");

  var state = { q: "", source: "all", offset: 0, panel: null };
  var el = function () { return Admin.el.apply(null, arguments); };

  function date(iso) {
    var p = (iso || "").split("-");
    return p.length === 3 ? p[2] + "/" + p[1] + "/" + p[0] : iso || "";
  }

  function unverifiedText(fields) {
    return fields.map(function (f) { return FIELDS[f] || f; }).join(", ");
  }

  // --- list ---------------------------------------------------------------------------------

  function show(panel) {
    state.panel = panel;
    panel.textContent = "";
    var q = el("input", { type: "search", class: "field__input", id: "proc-q", value: state.q,
                          placeholder: "Tên, mã hoặc tên gọi (có dấu hay không dấu đều được)",
                          "aria-label": "Tìm thủ tục" });
    var source = el("select", { class: "field__input", id: "proc-source", "aria-label": "Nguồn" },
      el("option", { value: "all", text: "Tất cả" }),
      el("option", { value: "hand_written", text: "Do thành phố soạn" }),
      el("option", { value: "imported", text: "Nhập từ CSDL quốc gia" }));
    source.value = state.source;
    var search = function (event) {
      if (event) event.preventDefault();
      state.q = q.value.trim();
      state.source = source.value;
      state.offset = 0;
      loadList();
    };
    panel.appendChild(el("form", { class: "proc__search", onsubmit: search },
      q, source, el("button", { type: "submit", class: "btn", text: "Tìm" }),
      el("button", { type: "button", class: "btn", text: "Thêm thủ tục mới", onclick: function () { openNew(); } })));
    panel.appendChild(el("p", { class: "muted", text: "Thủ tục có trường chưa xác minh và ngày kiểm tra cũ nhất ở trên cùng." }));
    panel.appendChild(el("div", { id: "proc-list" }));
    panel.appendChild(el("div", { id: "proc-editor" }));
    loadList();
  }

  function loadList() {
    var url = API + "?limit=" + PAGE + "&offset=" + state.offset + "&source=" + state.source +
      (state.q ? "&q=" + encodeURIComponent(state.q) : "");
    var box = document.getElementById("proc-list");
    box.textContent = "Đang tải…";
    Admin.api("GET", url).then(function (data) { renderList(box, data); },
      function (e) { box.textContent = ""; Admin.error(e.userMessage); });
  }

  function renderList(box, data) {
    box.textContent = "";
    if (!data.items.length) {
      box.appendChild(el("p", { text: "Không tìm thấy thủ tục nào." }));
      return;
    }
    var rows = data.items.map(function (item) {
      var mark = item.unverified.length
        ? el("span", { class: "warn", text: "⚠ " + unverifiedText(item.unverified) }) : el("span", { class: "muted", text: "—" });
      return el("tr", { class: item.unverified.length ? "proc__row proc__row--unverified" : "proc__row" },
        el("td", {}, el("a", { href: "#procedures", class: "proc__open", text: item.name,
                               onclick: function (event) { event.preventDefault(); openRecord(item.id); } }),
           el("div", { class: "muted", text: item.id })),
        el("td", { text: item.code || "—" }),
        el("td", { text: date(item.checked_on) }),
        el("td", {}, mark),
        el("td", { text: item.imported ? "CSDL quốc gia (chưa kiểm tra)" : "Thành phố soạn" }));
    });
    box.appendChild(el("table", {},
      el("thead", {}, el("tr", {}, el("th", { text: "Thủ tục" }), el("th", { text: "Mã" }),
        el("th", { text: "Kiểm tra ngày" }), el("th", { text: "Chưa xác minh" }), el("th", { text: "Nguồn" }))),
      el("tbody", {}, rows)));
    var last = Math.min(data.offset + data.items.length, data.total);
    box.appendChild(el("p", { class: "proc__pages" },
      el("button", { type: "button", class: "btn", text: "Trang trước", disabled: data.offset === 0,
                     onclick: function () { state.offset = Math.max(0, state.offset - PAGE); loadList(); } }),
      " " + (data.offset + 1) + "–" + last + " / " + data.total + " thủ tục ",
      el("button", { type: "button", class: "btn", text: "Trang sau", disabled: last >= data.total,
                     onclick: function () { state.offset += PAGE; loadList(); } })));
  }

  // --- editor -------------------------------------------------------------------------------

  function openRecord(id) {
    Admin.error("");
    var box = document.getElementById("proc-editor");
    box.textContent = "Đang tải…";
    Promise.all([Admin.api("GET", API + "/" + encodeURIComponent(id)),
                 Admin.api("GET", API + "/" + encodeURIComponent(id) + "/yaml"),
                 Admin.api("GET", API + "/" + encodeURIComponent(id) + "/versions")])
      .then(function (r) { renderEditor(box, id, r[0], r[1], r[2].versions); },
            function (e) { box.textContent = ""; Admin.error(e.userMessage); });
  }

  function openNew() {
    Admin.error("");
    renderEditor(document.getElementById("proc-editor"), null, null, { yaml: TEMPLATE, imported: false }, []);
  }

  function summary(record, source) {
    if (!record) return el("p", { class: "muted", text: "Thủ tục mới: sửa mẫu bên cạnh rồi bấm “Áp dụng”." });
    var unverified = record.unverified || [];
    var marked = function (field, label, value) {
      var warn = unverified.indexOf(field) >= 0;
      return [el("dt", { text: label }), el("dd", { class: warn ? "warn" : null },
        value, warn ? " (chưa xác minh)" : "")];
    };
    var fees = record.channels.map(function (c) {
      return el("div", { text: (METHODS[c.method] || c.method) + ": " + c.fee + " — " + c.duration });
    });
    return el("dl", { class: "proc__summary" },
      source.imported ? [el("dt", { text: "Nguồn" }), el("dd", { class: "warn",
        text: "Nhập từ CSDL quốc gia, thành phố chưa kiểm tra. Áp dụng sẽ lưu thành bản do thành phố kiểm tra." })] : null,
      marked("code", "Mã", record.code || "—"),
      marked("agency", "Cơ quan", record.agency),
      marked("fee", "Lệ phí và thời hạn", fees),
      [el("dt", { text: "Tên gọi" }), el("dd", { text: (record.aliases || []).join("; ") || "—" })],
      [el("dt", { text: "Kiểm tra ngày" }), el("dd", { text: date(record.checked_on) })],
      [el("dt", { text: "Chưa xác minh" }), el("dd", { class: unverified.length ? "warn" : null,
        text: unverified.length ? unverifiedText(unverified) : "không có" })]);
  }

  function renderEditor(box, id, record, source, versions) {
    box.textContent = "";
    var text = el("textarea", { id: "proc-yaml", rows: "30", spellcheck: "false", "aria-label": "Nội dung YAML của thủ tục" });
    text.value = source.yaml;
    var fieldLine = el("p", { class: "admin__error", id: "proc-field", role: "alert", hidden: true });
    var apply = el("button", { type: "button", class: "btn btn--primary", id: "proc-apply", text: "Áp dụng" });
    // the version this editor shows: a save after someone else's is refused (412), not overwritten
    apply.onclick = function () { save(id, text.value, apply, fieldLine, source.etag); };
    box.appendChild(el("h2", { text: record ? record.name : "Thêm thủ tục mới" }));
    if (source.file) box.appendChild(el("p", { class: "muted", text: "Tệp: " + source.file }));
    box.appendChild(el("div", { class: "proc__editor" },
      el("div", { class: "proc__view" }, summary(record, source)),
      el("div", { class: "proc__text" }, text, fieldLine,
        el("p", {}, apply, " ", el("button", { type: "button", class: "btn", text: "Đóng",
          onclick: function () { box.textContent = ""; } })))));
    box.appendChild(history(versions));
  }

  function history(versions) {
    var section = el("section", { class: "proc__history" }, el("h3", { text: "Lịch sử thay đổi" }));
    if (!versions.length) {
      section.appendChild(el("p", { class: "muted", text: "Chưa có thay đổi nào qua trang này." }));
      return section;
    }
    versions.forEach(function (v) {
      var when = new Date(v.created).toLocaleString("vi-VN");
      section.appendChild(el("details", {},
        el("summary", { text: when + " — " + v.author + " — " + (ACTIONS[v.action] || v.action) }),
        el("pre", { class: "proc__diff", text: v.diff })));
    });
    return section;
  }

  function showFieldError(line, e) {
    Admin.error(e.userMessage);
    var field = e.data && e.data.field;
    line.textContent = field ? "Trường cần sửa: " + field : "";
    line.hidden = !field;
  }

  function save(id, yaml, button, fieldLine, etag) {
    button.disabled = true;
    fieldLine.hidden = true;
    Admin.api("POST", API + "/parse", { yaml: yaml }).then(function (parsed) {
      var record = parsed.record;
      var target = id || (record && record.id);
      var match = etag ? { "If-Match": '"' + etag + '"' } : undefined;
      if (id) return Admin.api("PUT", API + "/" + encodeURIComponent(id), record, match).then(function (r) { return [target, r]; });
      return Admin.api("POST", API, record).then(function (r) { return [target, r]; });
    }).then(function (done) {
      Admin.notice(done[1].message);
      loadList();
      openRecord(done[0]);
      Admin.notice(done[1].message);
    }, function (e) {
      showFieldError(fieldLine, e);
    }).finally(function () { button.disabled = false; });
  }

  Admin.tabs.procedures = { show: show };
})();
