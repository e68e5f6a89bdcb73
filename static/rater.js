/* Rater pages: keyboard shortcuts and time on page. The forms work without this file. */
(function () {
  "use strict";

  // Browsers skip autofocus when the window had no focus at load: focus it explicitly.
  var first = document.querySelector("[autofocus]");
  if (first && document.activeElement !== first) first.focus();

  // Forms marked data-enter-submits (join, consent) submit on Enter from anywhere on the page.
  document.querySelectorAll("form[data-enter-submits]").forEach(function (f) {
    document.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.target.matches("textarea, button, a")) {
        e.preventDefault();
        f.requestSubmit();
      }
    });
  });

  var form = document.getElementById("judge-form");
  if (!form) return;
  var started = performance.now();
  var task = form.dataset.task;
  var groups = Array.prototype.slice.call(form.querySelectorAll(".r-criterion"));
  var hint = form.querySelector(".r-hint");
  var active = 0;
  var sent = false;

  function setActive(i) {
    active = Math.max(0, Math.min(groups.length - 1, i));
    groups.forEach(function (g, k) { g.classList.toggle("is-active", k === active); });
    groups[active].scrollIntoView({ block: "nearest" });
  }
  function answered(g) { return g.querySelector("input:checked") !== null; }
  function firstOpen() { return groups.findIndex(function (g) { return !answered(g); }); }

  function pick(value) {
    var input = groups[active].querySelector('input[value="' + value + '"]');
    if (!input) return;
    input.checked = true;
    if (hint) hint.hidden = true;
    var open = firstOpen();
    if (open !== -1) setActive(active < groups.length - 1 && !answered(groups[active + 1]) ? active + 1 : open);
  }
  function step(delta) {
    var inputs = Array.prototype.slice.call(groups[active].querySelectorAll("input[type=radio]"));
    var at = inputs.findIndex(function (i) { return i.checked; });
    var next = at === -1 ? (delta > 0 ? 0 : inputs.length - 1) : Math.max(0, Math.min(inputs.length - 1, at + delta));
    inputs[next].checked = true;
  }
  function cycleStrength() {
    var inputs = Array.prototype.slice.call(form.querySelectorAll('input[name="strength"]'));
    if (!inputs.length) return;
    var at = inputs.findIndex(function (i) { return i.checked; });
    inputs[(at + 1) % inputs.length].checked = true;
  }

  groups.forEach(function (g, k) {
    g.addEventListener("click", function () { setActive(k); });
    g.addEventListener("change", function () { if (hint) hint.hidden = true; });
  });

  form.addEventListener("submit", function (e) {
    var open = firstOpen();
    if (open !== -1) {
      e.preventDefault();
      setActive(open);
      if (hint) hint.hidden = false;
      return;
    }
    if (sent) { e.preventDefault(); return; }
    sent = true;
    var seconds = form.querySelector('input[name="seconds"]');
    if (seconds) seconds.value = ((performance.now() - started) / 1000).toFixed(2);
    var button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
  });

  var pairKeys = { "1": "left", "ArrowLeft": "left", "2": "right", "ArrowRight": "right", "0": "tie", "ArrowDown": "tie" };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.matches("textarea, input[type=text], select")) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    var key = e.key;
    if (key === "Enter") {
      if (e.target.closest && e.target.closest(".r-skip")) return;
      e.preventDefault();
      form.requestSubmit();
    } else if (key === "ArrowUp") {
      e.preventDefault(); setActive(active - 1);
    } else if (task === "pairwise" && pairKeys[key]) {
      e.preventDefault(); pick(pairKeys[key]);
    } else if (task === "rating" && /^[0-9]$/.test(key)) {
      e.preventDefault(); pick(key);
    } else if (task === "rating" && (key === "ArrowLeft" || key === "ArrowRight")) {
      e.preventDefault(); step(key === "ArrowRight" ? 1 : -1);
    } else if (task === "rating" && key === "ArrowDown") {
      e.preventDefault(); setActive(active + 1);
    } else if (key === "s" || key === "S") {
      cycleStrength();
    } else if (key === "r" || key === "R") {
      var details = form.querySelector(".r-rationale");
      if (details) { e.preventDefault(); details.open = true; details.querySelector("textarea").focus(); }
    } else if (key === "x" || key === "X") {
      var skip = document.getElementById("skip");
      if (skip) { e.preventDefault(); skip.open = true; skip.querySelector("select").focus(); }
    }
  });
})();
