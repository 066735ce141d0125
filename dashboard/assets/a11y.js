/* Accessibility repairs of Dash 4's own components, applied as they render.
 *
 * - RadioItems and Checklist render a "listbox" of "option" labels that each hold a native
 *   radio or checkbox (interactive controls nested in interactive roles): they become a
 *   radiogroup (or group) of the native inputs, which screen readers and keyboards know.
 * - A control is named by its label: the element with the id "<control id>-label", a
 *   <label for=...>, or the .control-label just before it.
 * - Dropdowns put the Tab stop on a hidden, unnamed input: the Tab stop moves to the
 *   dropdown's own button, which is named by its label and its value.
 * - Slider handles, DataTable row checkboxes and filter boxes get names; the words come
 *   from the page (data-a11y-* on the app's root) in the interface's language.
 */
(function () {
  "use strict";

  function words() {
    var root = document.querySelector(".app");
    return (root && root.dataset) || {};
  }

  function labelOf(el) {
    if (!el || !el.id) return null;
    var found = document.getElementById(el.id + "-label");
    if (!found) found = document.querySelector('label[for="' + CSS.escape(el.id) + '"]');
    if (!found) {
      var prev = el.previousElementSibling;
      if (prev && prev.classList.contains("control-label")) found = prev;
    }
    if (found && !found.id) found.id = el.id + "-label";
    return found;
  }

  function name(el, target) {
    var label = labelOf(el);
    if (label && !target.getAttribute("aria-labelledby")) {
      target.setAttribute("aria-labelledby", label.id);
    }
  }

  function fix(root) {
    // (a dropdown's menu is a real listbox of options, and is left as it is)
    var lists = ".dash-radioitems, .dash-checklist";
    root.querySelectorAll('.dash-options-list[role="listbox"]').forEach(function (list) {
      if (!list.matches(lists)) return;
      list.setAttribute("role", list.classList.contains("dash-radioitems") ? "radiogroup" : "group");
      name(list, list);
    });
    root.querySelectorAll(".dash-options-list-option[role], .dash-options-list-option[aria-selected]")
      .forEach(function (opt) {
        if (!opt.parentElement || !opt.parentElement.matches(lists)) return;
        opt.removeAttribute("role");
        opt.removeAttribute("aria-selected");
      });
    root.querySelectorAll(".dash-dropdown-wrapper").forEach(function (wrap) {
      var focus = wrap.querySelector("input.dash-dropdown-focus-target");
      var button = wrap.querySelector("button.dash-dropdown");
      if (!button) return;
      if (focus && focus.getAttribute("tabindex") !== "-1") focus.setAttribute("tabindex", "-1");
      if (button.getAttribute("tabindex") !== "0") button.setAttribute("tabindex", "0");
      var label = labelOf(button);
      var by = button.getAttribute("aria-labelledby") || "";
      if (label && by.split(" ").indexOf(label.id) < 0) {
        button.setAttribute("aria-labelledby", (label.id + " " + by).trim());
      }
    });
    root.querySelectorAll('[role="slider"]:not([aria-label]):not([aria-labelledby])')
      .forEach(function (thumb) {
        var slider = thumb.closest(".dash-slider-container");
        var label = labelOf(slider);
        if (label) thumb.setAttribute("aria-labelledby", label.id);
        else thumb.setAttribute("aria-label", words().a11ySlider || "slider");
      });
    var w = words();
    root.querySelectorAll('input[type="checkbox"][name^="row-select-"]:not([aria-label])')
      .forEach(function (box) {
        var row = box.closest("tr");
        var n = row ? Array.prototype.indexOf.call(row.parentNode.children, row) : 0;
        box.setAttribute("aria-label", (w.a11yRow || "select row {n}").replace("{n}", String(n)));
      });
    root.querySelectorAll(".dash-filter input:not([aria-label])").forEach(function (box) {
      var cell = box.closest("[data-dash-column]");
      var column = cell ? cell.getAttribute("data-dash-column") : "";
      var text = box.type === "button" ? (w.a11yCase || "match case: {column}")
                                       : (w.a11yFilter || "filter {column}");
      box.setAttribute("aria-label", text.replace("{column}", column));
    });
  }

  var queued = false;
  function soon() {
    if (queued) return;
    queued = true;
    window.setTimeout(function () {
      queued = false;
      fix(document);
    }, 0);
  }

  function start() {
    fix(document);
    new MutationObserver(soon).observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["role", "aria-selected", "tabindex"],
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
