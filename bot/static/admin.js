/* Staff page shell: login, the CSRF token, tabs, and one API helper the tab scripts share.
 *
 * Tab scripts (admin-<tab>.js) register themselves:
 *   Admin.tabs.procedures = { show: function (panel) { ... } };
 * show() is called each time the tab is opened, with its <section>. They call
 *   Admin.api(method, "/admin/api/...", body) -> Promise of the JSON answer
 *   (rejects with error.userMessage, the server's Vietnamese "error", and error.status);
 *   Admin.error(text), Admin.notice(text), Admin.el(tag, attrs, children...).
 */
(function () {
  "use strict";
  var TEXT = {
    loginMissing: "Bạn nhập tên đăng nhập và mật khẩu.",
    loginFailed: "Không đăng nhập được. Bạn thử lại sau ít phút.",
    forbidden: "Tài khoản của bạn không có quyền vào trang quản trị.",
    network: "Không kết nối được máy chủ. Bạn kiểm tra mạng rồi thử lại.",
    generic: "Có lỗi xảy ra. Bạn thử lại sau ít phút.",
  };
  var ROLES = { staff: true, admin: true };
  var csrf = null;
  var tabs = {};
  var current = null;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "onclick" || key === "onchange" || key === "oninput" || key === "onsubmit") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      (Array.isArray(child) ? child : [child]).forEach(function (c) {
        node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      });
    }
    return node;
  }

  function api(method, url, body, extraHeaders) {
    var headers = { Accept: "application/json" };
    Object.keys(extraHeaders || {}).forEach(function (name) { headers[name] = extraHeaders[name]; });
    var options = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = csrf || "";
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
    }
    return fetch(url, options).then(function (response) {
      var type = response.headers.get("content-type") || "";
      var read = type.indexOf("application/json") === 0 ? response.json() : response.text();
      return read.catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.status = response.status;
          error.data = data || {};
          error.userMessage = data && typeof data.error === "string" ? data.error : TEXT.generic;
          if (response.status === 401) showLogin();
          throw error;
        }
        return data;
      });
    }, function () {
      var error = new Error("network");
      error.status = 0;
      error.userMessage = TEXT.network;
      throw error;
    });
  }

  function error(text) {
    $("admin-notice").hidden = true;
    $("admin-error").textContent = text;
    $("admin-error").hidden = !text;
  }

  function notice(text) {
    $("admin-error").hidden = true;
    $("admin-notice").textContent = text;
    $("admin-notice").hidden = !text;
  }

  function showLogin(message) {
    csrf = null;
    $("boot").hidden = true;
    $("admin-view").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    $("login-error").hidden = !message;
  }

  function open(name) {
    current = name;
    Array.prototype.forEach.call(document.querySelectorAll(".admin__tab"), function (button) {
      button.setAttribute("aria-selected", button.getAttribute("data-tab") === name ? "true" : "false");
    });
    Array.prototype.forEach.call(document.querySelectorAll(".admin__panel"), function (panel) {
      panel.hidden = panel.id !== "tab-" + name;
    });
    error("");
    notice("");
    var tab = tabs[name];
    if (tab && tab.show) tab.show($("tab-" + name));
  }

  function enter(me) {
    if (!ROLES[me.role]) {
      showLogin(TEXT.forbidden);
      return;
    }
    csrf = me.csrf_token;
    $("boot").hidden = true;
    $("login-view").hidden = true;
    $("admin-view").hidden = false;
    $("me-name").textContent = (me.display_name || me.username) + " (" + me.role + ")";
    open(current || (location.hash && tabs[location.hash.slice(1)] ? location.hash.slice(1) : "procedures"));
  }

  function login(event) {
    event.preventDefault();
    var username = $("login-username").value.trim();
    var password = $("login-password").value;
    if (!username || !password) {
      showLogin(TEXT.loginMissing);
      return;
    }
    $("login-submit").disabled = true;
    fetch("/api/auth/login", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: username, password: password }),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || TEXT.loginFailed);
        $("login-password").value = "";
        enter(data);
      });
    }).catch(function (e) {
      showLogin(e.message || TEXT.loginFailed);
    }).finally(function () {
      $("login-submit").disabled = false;
    });
  }

  function logout() {
    api("POST", "/api/auth/logout", {}).catch(function () {}).then(function () { showLogin(); });
  }

  window.Admin = { tabs: tabs, api: api, el: el, error: error, notice: notice, open: open,
                   csrf: function () { return csrf; } };

  document.addEventListener("DOMContentLoaded", function () {
    $("login-form").onsubmit = login;
    $("logout").onclick = logout;
    Array.prototype.forEach.call(document.querySelectorAll(".admin__tab"), function (button) {
      button.onclick = function () { open(button.getAttribute("data-tab")); };
    });
    fetch("/api/auth/me", { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (!response.ok) return showLogin();
      return response.json().then(enter);
    }).catch(function () { showLogin(TEXT.network); });
  });
})();
