// Customer_Flow: keyboard shortcuts and bulk selection for the ticket queue and ticket page.
// Progressive enhancement: every action also works with the mouse and without this file.
// Loaded as a static file (the CSP allows scripts from this origin only, none inline).
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr[data-ticket]"));
  }

  function current() {
    return document.querySelector("tr[data-ticket].current");
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(current());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    all.forEach(function (r) { r.classList.remove("current"); r.removeAttribute("aria-current"); });
    var row = all[next];
    row.classList.add("current");
    row.setAttribute("aria-current", "true");
    var target = row.querySelector("input.pick") || row.querySelector("a[href^='/tickets/']");
    if (target) target.focus({ preventScroll: false });
  }

  function toggle() {
    var row = current();
    var box = row && row.querySelector("input.pick");
    if (box) {
      box.checked = !box.checked;
      syncAll();
    }
  }

  function open() {
    var row = current();
    var link = row && row.querySelector("a[href^='/tickets/']");
    if (link) window.location.href = link.getAttribute("href");
  }

  function syncAll() {
    var all = document.getElementById("pick-all");
    if (!all) return;
    var boxes = document.querySelectorAll("input.pick");
    var on = document.querySelectorAll("input.pick:checked").length;
    all.checked = boxes.length > 0 && on === boxes.length;
    all.indeterminate = on > 0 && on < boxes.length;
  }

  function showPickAll() {
    var all = document.getElementById("pick-all");
    if (all) all.hidden = false;
  }

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable ||
      (tag === "INPUT" && !/^(checkbox|radio|button|submit|reset)$/.test(el.type));
  }

  function focusField(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    el.focus();
    if (el.select && el.tagName === "INPUT") el.select();
    return true;
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.id === "pick-all") {
      document.querySelectorAll("input.pick").forEach(function (b) { b.checked = t.checked; });
    } else if (t.classList && t.classList.contains("pick")) {
      syncAll();
    }
  });

  // A canned reply goes in at the cursor of the reply box, without a round trip (the button
  // posts the form to /tickets/{id}/canned when this script is not there).
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("#canned-insert");
    if (!button) return;
    var pick = document.getElementById("canned-pick");
    var box = document.getElementById("comment-body");
    var option = pick && pick.options[pick.selectedIndex];
    if (!option || !box) return;
    e.preventDefault();
    var text = option.getAttribute("data-text") || "";
    var start = box.selectionStart || 0, end = box.selectionEnd || 0;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    var sep = before && !/\n$/.test(before) ? "\n\n" : "";
    box.value = before + sep + text + after;
    var at = (before + sep + text).length;
    box.focus();
    box.setSelectionRange(at, at);
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    var handled = true;
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": toggle(); break;
      case "o": open(); break;
      case "Enter":
        if (e.target.classList && e.target.classList.contains("pick")) open(); else handled = false;
        break;
      case "/": handled = focusField("search"); break;
      case "r": handled = focusField("comment-body"); break;
      case "?":
        var help = document.getElementById("shortcuts");
        if (help) { help.open = !help.open; help.querySelector("summary").focus(); } else handled = false;
        break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", showPickAll);
  document.body && showPickAll();
  document.addEventListener("htmx:afterSwap", showPickAll);
})();
