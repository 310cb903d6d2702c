/* Staff page, tab "Thống kê": the figures of GET /admin/api/dashboard drawn with Chart.js
 * (bot/static/vendor, see its README), plus the CSV download. */
(function () {
  "use strict";
  var charts = [];
  var COLORS = ["#0b5cad", "#e0801f", "#2f9e44", "#c92a2a", "#7048e8", "#1098ad", "#f08c00", "#5c940d", "#862e9c", "#495057"];
  var CHANNEL_LABELS = { web: "Web", zalo: "Zalo", telegram: "Telegram" };

  function percent(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1).replace(".", ",") + "%";
  }

  function seconds(value) {
    if (value === null || value === undefined) return "—";
    return value < 90 ? Math.round(value) + " giây" : (value / 60).toFixed(1).replace(".", ",") + " phút";
  }

  function chart(canvas, config) {
    if (typeof window.Chart !== "function") return;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    charts.push(new window.Chart(canvas, config));
  }

  function box(title, canvasId) {
    var E = window.Admin.el;
    return E("figure", { class: "dash__chart" }, E("figcaption", { text: title }),
      E("div", { class: "dash__canvas" }, E("canvas", { id: canvasId, role: "img", "aria-label": title })));
  }

  function render(panel, data, days) {
    var E = window.Admin.el;
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    panel.textContent = "";
    var t = data.totals;
    var select = E("select", { id: "dash-days", "aria-label": "Khoảng thời gian" },
      [7, 30, 90].map(function (n) { return E("option", { value: String(n), selected: n === days, text: n + " ngày qua" }); }));
    select.onchange = function () { load(panel, parseInt(select.value, 10)); };
    panel.appendChild(E("div", { class: "dash__bar" }, select,
      E("a", { class: "btn", id: "dash-csv", href: "/admin/api/dashboard?days=" + days + "&format=csv", download: "thong-ke.csv",
               text: "Tải CSV" }),
      E("span", { class: "muted", text: " Từ " + data.from + " đến " + data.to })));
    var cards = [
      ["Cuộc trò chuyện", String(t.conversations)],
      ["Tỉ lệ không hiểu", percent(t.fallback_rate)],
      ["Tỉ lệ chuyển cho người", percent(t.handover_rate)],
      ["Chờ người nhận (trung vị)", seconds(t.wait_median_s)],
      ["Đánh giá", t.rating_avg === null || t.rating_avg === undefined ? "—" : t.rating_avg + "/5 (" + t.ratings + " lượt)"],
      ["Hồ sơ nháp mới", String(t.dossiers_created)],
    ];
    panel.appendChild(E("div", { class: "dash__cards", id: "dash-totals" }, cards.map(function (c) {
      return E("div", { class: "dash__card" }, E("div", { class: "muted", text: c[0] }), E("strong", { text: c[1] }));
    })));
    panel.appendChild(E("div", { class: "dash__grid" },
      box("Cuộc trò chuyện mỗi ngày theo kênh", "dash-conversations"),
      box("Tỉ lệ không hiểu và chuyển cho người", "dash-rates"),
      box("Thủ tục được hỏi nhiều nhất", "dash-procedures"),
      box("Ý định thường gặp", "dash-intents"),
      box("Hồ sơ theo trạng thái", "dash-dossiers")));
    var labels = data.rows.map(function (r) { return r.date.slice(8, 10) + "/" + r.date.slice(5, 7); });
    chart(document.getElementById("dash-conversations"), {
      type: "bar",
      data: { labels: labels, datasets: data.channels.map(function (ch, i) {
        return { label: CHANNEL_LABELS[ch] || ch, backgroundColor: COLORS[i % COLORS.length],
                 data: data.rows.map(function (r) { return r.by_channel[ch] || 0; }) };
      }) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    chart(document.getElementById("dash-rates"), {
      type: "line",
      data: { labels: labels, datasets: [
        { label: "Không hiểu", borderColor: COLORS[3], backgroundColor: COLORS[3],
          data: data.rows.map(function (r) { return r.fallback_rate === null ? null : r.fallback_rate * 100; }) },
        { label: "Chuyển cho người", borderColor: COLORS[1], backgroundColor: COLORS[1],
          data: data.rows.map(function (r) { return r.handover_rate === null ? null : r.handover_rate * 100; }) },
      ] },
      options: { spanGaps: true, scales: { y: { beginAtZero: true, title: { display: true, text: "%" } } } },
    });
    chart(document.getElementById("dash-procedures"), {
      type: "bar",
      data: { labels: data.top_procedures.map(function (p) { return p.name.length > 48 ? p.name.slice(0, 47) + "…" : p.name; }),
              datasets: [{ label: "Lượt hỏi", backgroundColor: COLORS[0], data: data.top_procedures.map(function (p) { return p.count; }) }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    chart(document.getElementById("dash-intents"), {
      type: "bar",
      data: { labels: data.top_intents.map(function (p) { return p.intent; }),
              datasets: [{ label: "Lượt", backgroundColor: COLORS[2], data: data.top_intents.map(function (p) { return p.count; }) }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    chart(document.getElementById("dash-dossiers"), {
      type: "doughnut",
      data: { labels: data.dossiers_by_state.map(function (s) { return s.label; }),
              datasets: [{ data: data.dossiers_by_state.map(function (s) { return s.count; }),
                           backgroundColor: data.dossiers_by_state.map(function (s, i) { return COLORS[i % COLORS.length]; }) }] },
    });
  }

  function load(panel, days) {
    panel.setAttribute("aria-busy", "true");
    window.Admin.api("GET", "/admin/api/dashboard?days=" + days).then(function (data) {
      render(panel, data, days);
    }, function (error) {
      window.Admin.error(error.userMessage);
    }).finally(function () {
      panel.removeAttribute("aria-busy");
    });
  }

  window.Admin.tabs.dashboard = { show: function (panel) { load(panel, 30); } };
})();
