// Filters of the gallery: by state, by provider, and a search over prompts,
// task ids and errors. The data are the cards' own attributes and text (no
// data is embedded in this script), and only the `hidden` flag of a card
// changes, so 10,000 cards filter in a few milliseconds.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var shown = document.getElementById("shown");
  if (!form || !shown) return;
  var cards = Array.prototype.map.call(document.querySelectorAll(".card"), function (el) {
    return { el: el, state: el.getAttribute("data-state"), provider: el.getAttribute("data-provider"), text: null };
  });
  // The search text is read only once somebody searches: opening the page
  // stays fast.
  function text(card) {
    if (card.text === null) {
      var parts = card.el.querySelectorAll(".prompt, .task, .error");
      card.text = Array.prototype.map.call(parts, function (p) { return p.textContent; }).join("\n").toLowerCase();
    }
    return card.text;
  }
  function apply() {
    var states = {};
    Array.prototype.forEach.call(form.querySelectorAll("input[name=state]"), function (box) {
      states[box.value] = box.checked;
    });
    var provider = form.elements.provider.value;
    var words = form.elements.q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    cards.forEach(function (card) {
      var show = states[card.state] !== false &&
        (provider === "" || card.provider === provider) &&
        words.every(function (w) { return text(card).indexOf(w) >= 0; });
      if (card.el.hidden === show) card.el.hidden = !show;
      if (show) count += 1;
    });
    shown.textContent = count === cards.length ? "all " + count + " shown" : count + " of " + cards.length + " shown";
  }
  var timer = 0;
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  form.addEventListener("click", function (event) {
    var which = event.target.getAttribute("data-states");
    if (!which) return;
    Array.prototype.forEach.call(form.querySelectorAll("input[name=state]"), function (box) {
      box.checked = which === "all" || box.getAttribute("data-problem") === "1";
    });
    apply();
  });
})();
