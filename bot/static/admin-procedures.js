/* Staff page, tab "procedures": see admin.js for Admin.api / Admin.el.
 *
 * The list (search, records with unverified fields and the oldest checked_on first, marked), an
 * editor and the version history. The editor has two modes over the same record:
 * - "Biểu mẫu" (the default): a form built from the record as the API gives it (GET procedures/{id},
 *   the YAML's field names): a labelled input per field, lists with "Thêm" / "Xóa" (papers by case,
 *   fees and time limits per channel, legal basis, aliases, sources, …). "Áp dụng" PUTs the record
 *   as JSON; the server validates it exactly like the loader and the field it names (e.g.
 *   channels[0].fee_vnd) is marked in the form. Numbers are sent as typed when they are not
 *   numbers, so that the loader, not the page, refuses them.
 * - "YAML": the record's file in a textarea (every field, exactly the file that will be written),
 *   for fields the form has no input for yet (an optional field a record lacks); "Áp dụng" sends
 *   the text to POST procedures/parse (the loader's YAML reader), then PUTs the record.
 * Beside either, a read-only view of the key fields. Unapplied changes stay in their mode.
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
    var request = state.request = (state.request || 0) + 1;   // an older search answering late is ignored
    box.textContent = "Đang tải…";
    Admin.api("GET", url).then(function (data) { if (request === state.request) renderList(box, data); },
      function (e) { if (request === state.request) { box.textContent = ""; Admin.error(e.userMessage); } });
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

  // --- the form ---------------------------------------------------------------------------------

  var LABELS = {
    id: "Mã định danh (tên tệp)", code: "Mã thủ tục trên CSDL quốc gia", name: "Tên thủ tục",
    short_name: "Tên ngắn", field: "Lĩnh vực", level: "Cấp thực hiện", agency: "Cơ quan thực hiện",
    aliases: "Tên gọi người dân hay dùng", steps: "Các bước thực hiện", channels: "Cách nộp, thời hạn và lệ phí",
    method: "Cách nộp", duration: "Thời hạn giải quyết", working_days: "Số ngày làm việc",
    fee: "Lệ phí (như sẽ trả lời người dân)", fee_vnd: "Lệ phí (số đồng; để trống nếu không xác định)",
    description: "Mô tả", papers: "Giấy tờ theo từng trường hợp", "case": "Trường hợp", items: "Giấy tờ",
    originals: "Số bản chính", copies: "Số bản sao", note: "Ghi chú", form: "Mẫu đơn", form_file: "Tệp mẫu đơn",
    subjects: "Đối tượng thực hiện", result: "Kết quả", conditions: "Điều kiện", legal_basis: "Căn cứ pháp lý",
    number: "Số hiệu văn bản", title: "Tên", issued: "Ngày ban hành (YYYY-MM-DD)", issuer: "Cơ quan ban hành",
    submit: "Nơi nộp", where: "Nơi nộp hồ sơ", online: "Nộp trực tuyến", online_url: "Địa chỉ nộp trực tuyến",
    post: "Nhận hồ sơ qua bưu chính", sources: "Nguồn thông tin", url: "Đường dẫn",
    checked_on: "Ngày kiểm tra (YYYY-MM-DD)", unverified: "Trường chưa xác minh", covers: "Mã các thủ tục quốc gia mà bản này trả lời thay",
    links: "Liên kết",
  };
  var ITEM_LABELS = { aliases: "tên gọi", steps: "bước", channels: "cách nộp", papers: "trường hợp", items: "giấy tờ",
                      legal_basis: "văn bản", sources: "nguồn", unverified: "trường", covers: "mã", links: "liên kết" };
  var NUMBERS = { working_days: true, fee_vnd: true, originals: true, copies: true };
  var LONG = { steps: true, conditions: true, description: true, note: true, subjects: true, result: true };
  var LEVELS = { bo: "Trung ương (bộ)", tinh: "Cấp tỉnh", xa: "Cấp xã" };
  var CHOICES = { method: METHODS, online: { toan_trinh: "Toàn trình", mot_phan: "Một phần", khong: "Không" } };
  var formIds = 0;

  function blank(value) {   // an empty item of the same shape, for "Thêm"
    if (Array.isArray(value)) return [];
    if (value !== null && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (k) { out[k] = blank(value[k]); });
      return out;
    }
    if (typeof value === "boolean") return false;
    return typeof value === "number" ? null : "";
  }

  function tagged(input, path) {   // the id its label points to, and the field path errors name
    input.id = "pf-" + (++formIds);
    input.setAttribute("data-path", path);
    return input;
  }

  function labelled(key, path, input, long) {
    tagged(input, path);
    return el("div", { class: "pform__field" + (long ? " pform__field--long" : "") },
      el("label", { for: input.id, text: LABELS[key] || key }), input);
  }

  // Each builder returns { node, read }: read() gives the field's value as the API takes it.
  function build(key, path, value) {
    if (key === "level") return levelField(path, value);
    if (CHOICES[key] && (typeof value === "string" || value === null)) return choiceField(key, path, value);
    if (Array.isArray(value)) return listField(key, path, value);
    if (value !== null && typeof value === "object") return objectField(key, path, value);
    if (typeof value === "boolean") {
      var box = el("input", { type: "checkbox", class: "pform__check", checked: value });
      return { node: labelled(key, path, box), read: function () { return box.checked; } };
    }
    if (NUMBERS[key] || typeof value === "number") return numberField(key, path, value);
    return textField(key, path, value);
  }

  function textField(key, path, value, label) {
    var long = LONG[key] || (typeof value === "string" && value.length > 90);
    var input = long ? el("textarea", { class: "field__input", rows: "3" }) : el("input", { type: "text", class: "field__input" });
    input.value = value === null || value === undefined ? "" : String(value);
    var node = label === false ? tagged(input, path) : labelled(key, path, input, long);
    return { node: node, read: function () { return value === null && input.value === "" ? null : input.value; } };
  }

  function numberField(key, path, value) {
    var input = el("input", { type: "text", inputmode: "numeric", class: "field__input pform__number" });
    input.value = value === null || value === undefined ? "" : String(value);
    return { node: labelled(key, path, input), read: function () {
      var text = input.value.trim().replace(/[.\s]/g, "");
      if (input.value.trim() === "") return null;
      return /^-?\d+$/.test(text) ? Number(text) : input.value;   // not a number: the loader says so
    } };
  }

  function choiceField(key, path, value) {
    var select = el("select", { class: "field__input" });
    Object.keys(CHOICES[key]).forEach(function (v) { select.appendChild(el("option", { value: v, text: CHOICES[key][v] })); });
    if (value && !CHOICES[key][value]) select.appendChild(el("option", { value: value, text: value }));
    select.value = value || Object.keys(CHOICES[key])[0];
    return { node: labelled(key, path, select), read: function () { return select.value; } };
  }

  function levelField(path, value) {
    var chosen = Array.isArray(value) ? value : (value ? [value] : []);
    var boxes = Object.keys(LEVELS).map(function (v) {
      return { value: v, box: el("input", { type: "checkbox", class: "pform__check", value: v, checked: chosen.indexOf(v) >= 0 }) };
    });
    var group = el("fieldset", { class: "pform__group", "data-path": path }, el("legend", { text: LABELS.level }),
      boxes.map(function (b) { return el("label", { class: "pform__inline" }, b.box, " " + LEVELS[b.value]); }));
    return { node: group, read: function () {
      var checked = boxes.filter(function (b) { return b.box.checked; }).map(function (b) { return b.value; });
      // the record's own order first (a save changes no line it does not have to), then the new ones
      var picked = chosen.filter(function (v) { return checked.indexOf(v) >= 0; })
        .concat(checked.filter(function (v) { return chosen.indexOf(v) < 0; }));
      return Array.isArray(value) || picked.length !== 1 ? picked : picked[0];
    } };
  }

  function objectField(key, path, value, legend) {
    var fields = Object.keys(value).map(function (k) { return { key: k, built: build(k, path ? path + "." + k : k, value[k]) }; });
    var node = el("fieldset", { class: "pform__group", "data-path": path },
      legend === false ? null : el("legend", { text: legend || LABELS[key] || key }),
      fields.map(function (f) { return f.built.node; }));
    return { node: node, read: function () {
      var out = {};
      fields.forEach(function (f) { out[f.key] = f.built.read(); });
      return out;
    } };
  }

  function listField(key, path, values) {
    var group = el("fieldset", { class: "pform__group pform__list", "data-path": path }, el("legend", { text: LABELS[key] || key }));
    var body = el("div", {});
    var items = [];
    var shape = values.length ? values[values.length - 1] : "";
    var noun = ITEM_LABELS[key] || "mục";
    function render(current) {
      body.textContent = "";
      items = current.map(function (v, i) {
        var itemPath = path + "[" + i + "]";
        var built = v !== null && typeof v === "object" && !Array.isArray(v)
          ? objectField(key, itemPath, v, noun.charAt(0).toUpperCase() + noun.slice(1) + " " + (i + 1))
          : textField(key, itemPath, v, false);
        var remove = el("button", { type: "button", class: "btn btn--small", text: "Xóa " + noun,
          "aria-label": "Xóa " + noun + " " + (i + 1) + " (" + (LABELS[key] || key) + ")",
          onclick: function () { var now = read(); now.splice(i, 1); render(now); } });
        body.appendChild(el("div", { class: "pform__item" }, built.node, remove));
        return built;
      });
    }
    function read() { return items.map(function (b) { return b.read(); }); }
    render(values.slice());
    group.appendChild(body);
    group.appendChild(el("button", { type: "button", class: "btn btn--small", text: "Thêm " + noun,
      "aria-label": "Thêm " + noun + " (" + (LABELS[key] || key) + ")",
      onclick: function () { var now = read(); now.push(blank(shape)); render(now); } }));
    return { node: group, read: read };
  }

  function recordForm(record) {
    var built = objectField(null, "", record, false);
    built.node.id = "proc-form";
    built.node.classList.add("pform");
    return built;
  }

  function markField(box, field) {   // the input of the field the server named (or its nearest parent)
    Array.prototype.forEach.call(box.querySelectorAll(".pform__error"), function (n) { n.remove(); });
    Array.prototype.forEach.call(box.querySelectorAll(".field--error"), function (n) { n.classList.remove("field--error"); });
    if (!field) return;
    var path = field, target = null;
    while (path && !target) {
      target = Array.prototype.find.call(box.querySelectorAll("[data-path]"), function (n) { return n.getAttribute("data-path") === path; });
      path = path.indexOf(".") >= 0 || path.indexOf("[") >= 0 ? path.replace(/(\.[^.[\]]+|\[\d+\])$/, "") : "";
    }
    if (!target) return;
    target.classList.add("field--error");
    target.setAttribute("aria-invalid", "true");
    var note = el("p", { class: "pform__error admin__error", role: "alert", text: "Cần sửa trường này (" + field + ")." });
    target.insertAdjacentElement("afterend", note);
    if (target.focus) target.focus();
    if (target.scrollIntoView) target.scrollIntoView({ block: "center" });
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
    var box = document.getElementById("proc-editor");
    // the form starts from the same template as the YAML (read by the loader's YAML reader)
    Admin.api("POST", API + "/parse", { yaml: TEMPLATE }).then(function (parsed) {
      renderEditor(box, null, null, { yaml: TEMPLATE, imported: false }, [], parsed.record);
    }, function () { renderEditor(box, null, null, { yaml: TEMPLATE, imported: false }, []); });
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

  function renderEditor(box, id, record, source, versions, draft) {
    box.textContent = "";
    var text = el("textarea", { id: "proc-yaml", rows: "30", spellcheck: "false", "aria-label": "Nội dung YAML của thủ tục" });
    text.value = source.yaml;
    var start = record || draft;
    var form = start ? recordForm(JSON.parse(JSON.stringify(start))) : null;
    var fieldLine = el("p", { class: "admin__error", id: "proc-field", role: "alert", hidden: true });
    var apply = el("button", { type: "button", class: "btn btn--primary", id: "proc-apply", text: "Áp dụng" });
    var formPane = el("div", { class: "proc__form", id: "proc-form-pane", hidden: !form }, form ? form.node : null);
    var yamlPane = el("div", { class: "proc__yaml", id: "proc-yaml-pane", hidden: !!form }, text);
    var modeForm = el("button", { type: "button", class: "btn", id: "proc-mode-form", text: "Biểu mẫu",
                                  "aria-pressed": form ? "true" : "false", disabled: !form });
    var modeYaml = el("button", { type: "button", class: "btn", id: "proc-mode-yaml", text: "YAML (nâng cao)",
                                  "aria-pressed": form ? "false" : "true" });
    var mode = function (useForm) {
      formPane.hidden = !useForm;
      yamlPane.hidden = useForm;
      modeForm.setAttribute("aria-pressed", useForm ? "true" : "false");
      modeYaml.setAttribute("aria-pressed", useForm ? "false" : "true");
    };
    modeForm.onclick = function () { mode(true); };
    modeYaml.onclick = function () { mode(false); };
    // the version this editor shows: a save after someone else's is refused (412), not overwritten
    apply.onclick = function () {
      var fromForm = !formPane.hidden;
      var read = fromForm ? Promise.resolve(form.read())
        : Admin.api("POST", API + "/parse", { yaml: text.value }).then(function (parsed) { return parsed.record; });
      save(id, read, apply, fieldLine, source.etag, fromForm ? formPane : null);
    };
    box.appendChild(el("h2", { text: record ? record.name : "Thêm thủ tục mới" }));
    if (source.file) box.appendChild(el("p", { class: "muted", text: "Tệp: " + source.file }));
    box.appendChild(el("div", { class: "proc__editor" },
      el("div", { class: "proc__view" }, summary(record, source)),
      el("div", { class: "proc__text" },
        el("p", { class: "proc__modes" }, modeForm, " ", modeYaml,
          el("span", { class: "muted", text: " Thay đổi chưa áp dụng ở một chế độ không chuyển sang chế độ kia." })),
        formPane, yamlPane, fieldLine,
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

  function showFieldError(line, e, formPane) {
    Admin.error(e.userMessage);
    var field = e.data && e.data.field;
    line.textContent = field ? "Trường cần sửa: " + field : "";
    line.hidden = !field;
    if (formPane) markField(formPane, field);
  }

  function save(id, readRecord, button, fieldLine, etag, formPane) {
    button.disabled = true;
    fieldLine.hidden = true;
    if (formPane) markField(formPane, null);
    readRecord.then(function (record) {
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
      showFieldError(fieldLine, e, formPane);
    }).finally(function () { button.disabled = false; });
  }

  Admin.tabs.procedures = { show: show };
})();
