/*
 * Embeddable chat widget for city web pages:
 *
 *   <script src="https://<bot>/widget.js" defer></script>
 *
 * Adds a launcher button ("Hỏi trợ lý thủ tục") and a panel holding an iframe of
 * https://<bot>/?embed=1: the chat itself runs inside the iframe, on the bot's origin, so
 * every API call, the conversation token and localStorage stay there; the host page sees
 * none of them. The host page must be listed in the bot's WIDGET_ORIGINS (CSP
 * frame-ancestors), or the browser refuses to show the iframe.
 *
 * This script runs on the host page: no inline <style> or HTML strings, styles are set
 * through element.style (allowed by a style-src CSP), nothing is added to window except a
 * guard against loading twice. Where the browser refuses the iframe its storage (third-party
 * storage blocked), this script keeps the chat's conversation id and token in this site's
 * localStorage for it, so a reload keeps the conversation. Escape closes the panel (inside the iframe too: the chat
 * page posts a "tthc-widget:close" message) and focus returns to the launcher. Under
 * 600 px the panel fills the screen.
 */
(function () {
  "use strict";

  if (window.__tthcWidgetLoaded) return;
  window.__tthcWidgetLoaded = true;

  var PANEL_ID = "tthc-widget-panel";
  var TITLE_ID = "tthc-widget-title";
  var TEXT = {
    launcher: "Hỏi trợ lý thủ tục",
    title: "Trợ lý thủ tục hành chính",
    close: "Đóng",
    closeLabel: "Đóng cửa sổ trợ lý thủ tục",
    frameTitle: "Trò chuyện với trợ lý thủ tục hành chính",
  };
  var PRIMARY = "#0b5cad";
  var Z = "2147483000";
  var SMALL = "(max-width: 600px)";

  function scriptOrigin() {
    var script = document.currentScript;
    if (!script) {
      var scripts = document.querySelectorAll("script[src]");
      for (var i = scripts.length - 1; i >= 0; i--) {
        if (/\/widget\.js(\?|#|$)/.test(scripts[i].src)) {
          script = scripts[i];
          break;
        }
      }
    }
    try {
      return new URL(script.src, document.baseURI).origin;
    } catch (e) {
      return null;
    }
  }

  var origin = scriptOrigin();
  if (!origin) return;

  function css(element, styles) {
    for (var name in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, name)) element.style[name] = styles[name];
    }
    return element;
  }

  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif';
  var launcher, panel, frame, closeButton, media;

  function build() {
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.textContent = TEXT.launcher;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", PANEL_ID);
    launcher.setAttribute("data-tthc-widget", "launcher");
    css(launcher, {
      position: "fixed", right: "16px", bottom: "16px", zIndex: Z, margin: "0",
      minHeight: "48px", padding: "12px 20px", border: "2px solid #ffffff", borderRadius: "999px",
      background: PRIMARY, color: "#ffffff", font: "600 16px/1.2 " + FONT, cursor: "pointer",
      boxShadow: "0 4px 14px rgba(0, 0, 0, 0.25)",
    });

    panel = document.createElement("section");
    panel.id = PANEL_ID;
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.setAttribute("aria-labelledby", TITLE_ID);
    panel.setAttribute("data-tthc-widget", "panel");
    css(panel, {
      position: "fixed", zIndex: Z, flexDirection: "column", overflow: "hidden",
      background: "#ffffff", boxShadow: "0 8px 30px rgba(0, 0, 0, 0.3)", boxSizing: "border-box",
      font: "16px/1.4 " + FONT, color: "#1c2430",
    });

    var header = css(document.createElement("div"), {
      display: "flex", alignItems: "center", justifyContent: "space-between", gap: "8px",
      padding: "8px 8px 8px 16px", background: PRIMARY, color: "#ffffff", flex: "0 0 auto",
    });
    var title = css(document.createElement("h2"), {
      margin: "0", font: "700 16px/1.3 " + FONT, color: "#ffffff",
    });
    title.id = TITLE_ID;
    title.textContent = TEXT.title;
    closeButton = document.createElement("button");
    closeButton.type = "button";
    closeButton.textContent = TEXT.close;
    closeButton.setAttribute("aria-label", TEXT.closeLabel);
    css(closeButton, {
      minHeight: "40px", minWidth: "44px", padding: "6px 12px", border: "1px solid #ffffff",
      borderRadius: "8px", background: "transparent", color: "#ffffff", font: "600 15px/1 " + FONT,
      cursor: "pointer",
    });
    header.appendChild(title);
    header.appendChild(closeButton);
    panel.appendChild(header);

    launcher.addEventListener("click", function () {
      if (panel.hidden) open(); else close();
    });
    closeButton.addEventListener("click", close);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape" || event.key === "Esc") {
        event.preventDefault();
        close();
      }
    });
    window.addEventListener("message", function (event) {
      if (!frame || event.origin !== origin || event.source !== frame.contentWindow || !event.data) return;
      var type = event.data.type;
      if (type === "tthc-widget:close") close();
      else if (type === "tthc-widget:ready") {
        frame.contentWindow.postMessage({ type: "tthc-widget:conversation", conversation: readKept() }, origin);
      } else if (type === "tthc-widget:save") keep(event.data.conversation);
    });

    media = window.matchMedia ? window.matchMedia(SMALL) : null;
    if (media) {
      var relayout = function () { layout(); };
      if (media.addEventListener) media.addEventListener("change", relayout);
      else if (media.addListener) media.addListener(relayout);
    }
    layout();
    document.body.appendChild(panel);
    document.body.appendChild(launcher);
  }

  /*
   * Browsers that block third-party storage refuse the chat's iframe its localStorage; the
   * chat then asks this page to keep its conversation id and token (on this site only) so a
   * reload of the city page keeps the conversation.
   */
  var KEEP_KEY = "tthc-widget.conversation";

  function readKept() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(KEEP_KEY) || "null");
      return saved && typeof saved.id === "string" && typeof saved.token === "string" ? saved : null;
    } catch (e) {
      return null;
    }
  }

  function keep(conversation) {
    try {
      if (conversation && typeof conversation.id === "string" && typeof conversation.token === "string" &&
          conversation.id.length <= 100 && conversation.token.length <= 200) {
        window.localStorage.setItem(KEEP_KEY, JSON.stringify({ id: conversation.id, token: conversation.token }));
      } else if (conversation === null) {
        window.localStorage.removeItem(KEEP_KEY);
      }
    } catch (e) {
      /* storage blocked here too: the conversation lasts as long as the page */
    }
  }

  function small() {
    return media ? media.matches : window.innerWidth <= 600;
  }

  function layout() {
    if (small()) {
      css(panel, { top: "0", left: "0", right: "0", bottom: "0", width: "100%", height: "100%",
                   maxHeight: "none", borderRadius: "0" });
    } else {
      css(panel, { top: "auto", left: "auto", right: "16px", bottom: "80px", width: "400px",
                   height: "min(640px, calc(100vh - 100px))", maxHeight: "calc(100vh - 100px)",
                   borderRadius: "12px" });
    }
    panel.style.display = panel.hidden ? "none" : "flex";
    // Full screen on a phone: the launcher would sit on top of the composer.
    launcher.style.display = !panel.hidden && small() ? "none" : "block";
  }

  function ensureFrame() {
    if (frame) return;
    frame = document.createElement("iframe");
    frame.src = origin + "/?embed=1";
    frame.title = TEXT.frameTitle;
    frame.setAttribute("referrerpolicy", "no-referrer");
    css(frame, { flex: "1 1 auto", width: "100%", height: "100%", border: "0", display: "block",
                 background: "#f4f6f9" });
    frame.addEventListener("load", focusChat);
    panel.appendChild(frame);
  }

  function focusChat() {
    if (!frame || panel.hidden) return;
    frame.focus();
    if (frame.contentWindow) frame.contentWindow.postMessage({ type: "tthc-widget:focus" }, origin);
  }

  function open() {
    ensureFrame();
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    layout();
    focusChat();
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    layout();
    launcher.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", build);
  } else {
    build();
  }
})();
