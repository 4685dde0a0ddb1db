// apitest portal: small enhancements on top of pages that work without script.
// Theme toggle, copy buttons, tabs, body search / on-demand load / copy, live tail of the audit list (EventSource), dashboard auto-refresh.
// Captured data is only ever inserted with textContent, never as HTML.
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // Theme: auto (system) -> dark -> light -> auto, remembered in localStorage.
  function setupTheme() {
    var button = $("#theme-toggle");
    if (!button) { return; }
    var order = ["auto", "dark", "light"];
    function current() {
      try { return window.localStorage.getItem("apitest-theme") || "auto"; } catch (e) { return "auto"; }
    }
    function apply(choice) {
      if (choice === "auto") { document.documentElement.removeAttribute("data-theme"); }
      else { document.documentElement.setAttribute("data-theme", choice); }
      button.textContent = "Theme: " + choice;
      button.setAttribute("aria-label", "Colour theme: " + choice + " (click to change)");
    }
    button.hidden = false;
    apply(current());
    button.addEventListener("click", function () {
      var next = order[(order.indexOf(current()) + 1) % order.length];
      try {
        if (next === "auto") { window.localStorage.removeItem("apitest-theme"); }
        else { window.localStorage.setItem("apitest-theme", next); }
      } catch (e) { /* not persisted */ }
      apply(next);
    });
  }

  // Copy buttons: <button data-copy="#element-id">.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function setupCopy() {
    $all("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = $(button.getAttribute("data-copy"));
        if (!target) { return; }
        var text = "value" in target && target.value !== undefined ? target.value : target.textContent;
        var label = button.textContent;
        copyText(text).then(function () { button.textContent = "Copied"; }, function () { button.textContent = "Select and copy"; });
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  }

  // Tabs: <nav class="tabs" data-tabs> with <a href="#panel-id">; panels are the link targets.
  function setupTabs() {
    $all("[data-tabs]").forEach(function (nav) {
      var links = $all("a[href^='#']", nav);
      var panels = links.map(function (a) { return document.getElementById(a.getAttribute("href").slice(1)); });
      nav.setAttribute("role", "tablist");
      function select(index, focus) {
        links.forEach(function (a, i) {
          var on = i === index;
          a.setAttribute("aria-selected", on ? "true" : "false");
          a.setAttribute("tabindex", on ? "0" : "-1");
          if (panels[i]) { panels[i].hidden = !on; }
        });
        if (focus) { links[index].focus(); }
      }
      links.forEach(function (a, i) {
        a.setAttribute("role", "tab");
        if (panels[i]) { panels[i].setAttribute("role", "tabpanel"); }
        a.addEventListener("click", function (event) { event.preventDefault(); select(i, false); });
        a.addEventListener("keydown", function (event) {
          if (event.key === "ArrowRight") { event.preventDefault(); select((i + 1) % links.length, true); }
          if (event.key === "ArrowLeft") { event.preventDefault(); select((i - 1 + links.length) % links.length, true); }
        });
      });
      var wanted = links.findIndex(function (a) { return a.getAttribute("href") === window.location.hash; });
      select(wanted >= 0 ? wanted : 0, false);
    });
  }

  // Live tail: prepends rows sent by /api/v1/portal/audit/stream (same filters as the page).
  function cell(text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }

  function statusClass(status) { return "s" + String(status).charAt(0); }

  // The same words and colours as the server (apitest/portal/listing.py: caller_label, outcome).
  function callerLabel(event, table) {
    var who = event.user_email || event.api_key_name || event.user_subject;
    if (who) { return who; }
    if (event.auth_type === "anonymous") { return "anonymous"; }
    var rejected = (table.getAttribute("data-rejected") || "").split(" ");
    return rejected.indexOf(event.error_category || "") >= 0 ? "none (rejected)" : "none";
  }

  function badgeFor(event) {
    var badge = document.createElement("span");
    var failed = event.success === false || event.client_complete === false;
    badge.textContent = String(event.status);
    if (failed && event.status < 400) {
      var category = event.error_category || "";
      var warn = category === "client_disconnected" || (!category && event.client_complete === false);
      badge.className = "badge " + (warn ? "warn" : "bad");
      badge.title = event.status + " sent, but the request failed: " + (category || "the response did not reach the client complete");
      var mark = document.createElement("span");
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = " !";
      var note = document.createElement("span");
      note.className = "offscreen";
      note.textContent = " (failed: " + (category || "incomplete") + ")";
      badge.appendChild(mark);
      badge.appendChild(note);
    } else {
      badge.className = "badge " + statusClass(event.status);
      badge.title = "status " + event.status;
    }
    return badge;
  }

  // Times: UTC (as rendered) or the browser's local time, remembered in localStorage.
  function useLocal() {
    try { return window.localStorage.getItem("apitest-tz") === "local"; } catch (e) { return false; }
  }

  function pad(n, width) { var s = String(n); while (s.length < (width || 2)) { s = "0" + s; } return s; }

  function formatTime(iso, precise) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    var local = useLocal();
    var parts = local
      ? [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()]
      : [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
    var text = parts[0] + "-" + pad(parts[1]) + "-" + pad(parts[2]) + " " + pad(parts[3]) + ":" + pad(parts[4]) + ":" + pad(parts[5]);
    return precise ? text + "." + pad(parts[6], 3) : text;
  }

  function zoneName() {
    var offset = -new Date().getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return "UTC" + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  function applyTimes() {
    var local = useLocal();
    $all("time[datetime]").forEach(function (t) {
      t.textContent = formatTime(t.getAttribute("datetime"), t.getAttribute("data-precise") !== "0");
    });
    $all(".tz-label").forEach(function (label) { label.textContent = local ? "local time (" + zoneName() + ")" : "UTC"; });
    var note = $("#tz-note");
    if (note) { note.textContent = local ? "Times are local (" + zoneName() + "); hover a time for UTC." : "All times are UTC."; }
    var button = $("#tz-toggle");
    if (button) {
      button.textContent = local ? "Times: local" : "Times: UTC";
      button.setAttribute("aria-pressed", local ? "true" : "false");
      button.setAttribute("aria-label", "Show times in " + (local ? "UTC" : "local time") + " (now " + (local ? "local" : "UTC") + ")");
    }
    $all("time[datetime]").forEach(function (t) { t.title = local ? t.getAttribute("datetime") : ""; });
  }

  function setupTimes() {
    var button = $("#tz-toggle");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        try { window.localStorage.setItem("apitest-tz", useLocal() ? "utc" : "local"); } catch (e) { /* not persisted */ }
        applyTimes();
      });
    }
    if (useLocal()) { applyTimes(); }
  }

  // Compare picks (A, B) travel in the URL and the pager links, so a pick survives paging.
  function setupPicks() {
    var form = $("#compare-form");
    if (!form) { return; }
    var problem = $("#compare-problem");
    function picked(side) {
      var checked = form.querySelector("input[type=radio][name=" + side + "]:checked");
      if (checked) { return checked.value; }
      var kept = form.querySelector("input.pick-elsewhere[name=" + side + "]");
      return kept ? kept.value : "";
    }
    function withPicks(href) {
      var url = new URL(href, window.location.href);
      ["a", "b"].forEach(function (side) {
        var value = picked(side);
        if (value) { url.searchParams.set(side, value); } else { url.searchParams.delete(side); }
      });
      url.searchParams.delete("compare");
      return url.pathname + url.search + url.hash;
    }
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (!target || target.type !== "radio") { return; }
      $all("input.pick-elsewhere[name=" + target.name + "]", form).forEach(function (old) { old.remove(); });
      window.history.replaceState(null, "", withPicks(window.location.href));
      $all("a.keep-picks").forEach(function (a) { a.setAttribute("href", withPicks(a.getAttribute("href"))); });
      $all("form:not(#compare-form) input[type=hidden][name=a], form:not(#compare-form) input[type=hidden][name=b]").forEach(function (input) {
        input.value = picked(input.name);
      });
      if (problem) { problem.hidden = true; }
    });
    form.addEventListener("submit", function (event) {
      var a = picked("a");
      var b = picked("b");
      if (a && b) { return; }
      event.preventDefault();
      if (!problem) { return; }
      problem.textContent = !a && !b
        ? "Pick two requests to compare: choose A in one row and B in another."
        : "Pick two requests to compare: " + (a ? "A" : "B") + " is chosen; choose " + (a ? "B" : "A") + " too.";
      problem.hidden = false;
    });
  }

  // Filter and search forms: leave empty fields out of the URL (the server would redirect anyway).
  function setupCleanForms() {
    $all("form.filters, form.search").forEach(function (form) {
      form.addEventListener("submit", function () {
        $all("input, select", form).forEach(function (field) {
          if (field.name && field.value.trim() === "") { field.disabled = true; }
        });
      });
    });
  }

  function rowFor(event, table) {
    var tr = document.createElement("tr");
    tr.className = "fresh";
    tr.setAttribute("data-event-id", event.id);
    var time = document.createElement("td");
    time.className = "mono";
    var link = document.createElement("a");
    link.href = table.getAttribute("data-event-url").replace("__ID__", encodeURIComponent(event.id));
    var stamp = document.createElement("time");
    stamp.setAttribute("datetime", event.timestamp);
    stamp.setAttribute("data-precise", "1");
    stamp.textContent = formatTime(event.timestamp, true);
    link.appendChild(stamp);
    time.appendChild(link);
    tr.appendChild(time);
    tr.appendChild(cell(event.method, "method"));
    tr.appendChild(cell(event.path, "path mono"));
    var status = document.createElement("td");
    status.appendChild(badgeFor(event));
    tr.appendChild(status);
    tr.appendChild(cell(event.duration_ms + " ms", "num"));
    tr.appendChild(cell(callerLabel(event, table)));
    tr.appendChild(cell(event.auth_type || "none"));
    tr.appendChild(cell(event.source));
    var pick = document.createElement("td");
    ["a", "b"].forEach(function (side) {
      var label = document.createElement("label");
      label.className = "inline";
      var radio = document.createElement("input");
      radio.type = "radio";
      radio.name = side;
      radio.value = event.id;
      radio.setAttribute("aria-label", "Compare as " + side.toUpperCase());
      label.appendChild(radio);
      label.appendChild(document.createTextNode(" " + side.toUpperCase() + " "));
      pick.appendChild(label);
    });
    tr.appendChild(pick);
    return tr;
  }

  function setupLiveTail() {
    var table = $("table[data-stream-url]");
    var toggle = $("#live-tail");
    if (!table || !toggle || !window.EventSource) { return; }
    var status = $("#live-status");
    var body = table.tBodies[0];
    function bumpTotals() {
      $all(".total-count").forEach(function (counter) {
        if (counter.getAttribute("data-capped") === "true") { return; }  // "1,000+" stays true
        var total = Number(counter.getAttribute("data-total") || "0") + 1;
        counter.setAttribute("data-total", String(total));
        counter.textContent = total.toLocaleString("en-US");
      });
    }
    function trim() {
      var rowsMax = Number(table.getAttribute("data-rows-max") || "500");
      while (body.rows.length > rowsMax) { body.deleteRow(body.rows.length - 1); }
    }
    var empty = $("#no-events");
    var source = null;
    var seen = 0;
    toggle.hidden = false;
    function show(on, text) {
      if (!status) { return; }
      status.hidden = false;
      status.classList.toggle("on", on);
      $(".text", status).textContent = text;
    }
    function start() {
      source = new EventSource(table.getAttribute("data-stream-url"));
      source.addEventListener("open", function () { show(true, "live"); });
      source.addEventListener("audit", function (message) {
        var event = JSON.parse(message.data);
        if (body.querySelector("tr[data-event-id='" + CSS.escape(event.id) + "']")) { return; }
        body.insertBefore(rowFor(event, table), body.firstChild);
        trim();
        bumpTotals();
        seen += 1;
        if (empty) { empty.hidden = true; }
        show(true, "live: " + seen + " new");
      });
      source.addEventListener("saturated", function () { show(true, "live: too many events, reload to catch up"); });
      source.addEventListener("error", function () { show(false, "reconnecting"); });
      toggle.textContent = "Stop live tail";
      toggle.setAttribute("aria-pressed", "true");
    }
    function stop() {
      if (source) { source.close(); source = null; }
      toggle.textContent = "Live tail";
      toggle.setAttribute("aria-pressed", "false");
      show(false, "paused");
    }
    toggle.addEventListener("click", function () { if (source) { stop(); } else { start(); } });
    if (toggle.getAttribute("data-autostart") === "true") { start(); }
  }

  // Dashboard auto-refresh: <select id="refresh"> with seconds; remembered.
  function setupRefresh() {
    var select = $("#refresh");
    if (!select) { return; }
    select.parentElement.hidden = false;
    var timer = null;
    function arm(seconds) {
      if (timer) { window.clearTimeout(timer); timer = null; }
      if (seconds > 0) { timer = window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
    }
    try { select.value = window.localStorage.getItem("apitest-refresh") || "0"; } catch (e) { select.value = "0"; }
    arm(Number(select.value));
    select.addEventListener("change", function () {
      try { window.localStorage.setItem("apitest-refresh", select.value); } catch (e) { /* not persisted */ }
      arm(Number(select.value));
    });
  }

  // Bodies on the event page: load a big body on demand, copy a body from its route, search within a body.
  function fetchBody(url) {
    return window.fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); });
  }

  function setupBodies() {
    $all("button[data-load-body]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var into = $(button.getAttribute("data-into"));
        button.disabled = true;
        fetchBody(button.getAttribute("data-load-body")).then(function (data) {
          into.textContent = data.body_encoding === "base64" ? "(base64) " + data.body : data.body;
          into.hidden = false;
          into.setAttribute("tabindex", "-1");
          into.focus();
        }, function (error) { button.disabled = false; button.textContent = "Load failed (" + error.message + "): retry"; });
      });
    });
    $all("button[data-copy-url]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var label = button.textContent;
        fetchBody(button.getAttribute("data-copy-url")).then(function (data) { return copyText(data.body); })
          .then(function () { button.textContent = "Copied"; }, function () { button.textContent = "Copy failed"; });
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
    $all("input[data-search]").forEach(function (input) {
      var root = $(input.getAttribute("data-search"));
      var count = document.getElementById(input.getAttribute("aria-describedby"));
      if (!root) { return; }
      input.parentElement.hidden = false;
      function clear() {
        $all("mark.hit", root).forEach(function (mark) {
          var parent = mark.parentNode;
          parent.replaceChild(document.createTextNode(mark.textContent), mark);
          parent.normalize();
        });
      }
      function search() {
        clear();
        var needle = input.value.toLowerCase();
        if (!needle) { if (count) { count.textContent = ""; } return; }
        var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        var nodes = [];
        while (walker.nextNode()) { nodes.push(walker.currentNode); }
        var found = 0;
        nodes.forEach(function (node) {
          var text = node.nodeValue;
          var lower = text.toLowerCase();
          var at = lower.indexOf(needle);
          if (at < 0 || found >= 1000) { return; }
          var frag = document.createDocumentFragment();
          var from = 0;
          while (at >= 0 && found < 1000) {
            frag.appendChild(document.createTextNode(text.slice(from, at)));
            var mark = document.createElement("mark");
            mark.className = "hit";
            mark.textContent = text.slice(at, at + needle.length);
            frag.appendChild(mark);
            found += 1;
            from = at + needle.length;
            at = lower.indexOf(needle, from);
          }
          frag.appendChild(document.createTextNode(text.slice(from)));
          node.parentNode.replaceChild(frag, node);
        });
        var marks = $all("mark.hit", root);
        marks.forEach(function (mark) {  // open the collapsed tree nodes and expanders that hold a match
          for (var el = mark.parentElement; el && el !== root; el = el.parentElement) {
            if (el.tagName === "DETAILS") { el.open = true; }
          }
        });
        if (marks.length) { marks[0].classList.add("current"); marks[0].scrollIntoView({ block: "nearest" }); }
        if (count) { count.textContent = found + (found === 1 ? " match" : " matches") + (found >= 1000 ? " (first 1000)" : ""); }
      }
      var timer = null;
      input.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(search, 150); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupBodies();
    setupTheme();
    setupCopy();
    setupTabs();
    setupLiveTail();
    setupRefresh();
    setupTimes();
    setupPicks();
    setupCleanForms();
  });
})();
