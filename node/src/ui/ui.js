// The office UI's one script (served as /static/ui.js; the pages carry no inline script).
// On the 填报 form it checks the table's rules as the clerk types: each rule's <li> carries its
// relation (data-terms "CODE:coef,…", data-lower, data-upper); a rule whose cells are all filled in
// is marked holds or broken, and the inputs of a broken rule are outlined.
(function () {
  "use strict";
  function value(code) {
    var el = document.getElementById("cell-" + code);
    if (!el) return null;
    var raw = el.value.replace(/,/g, "").trim();
    if (raw === "") return null;
    var n = Number(raw);
    return isNaN(n) ? NaN : n;
  }
  function check() {
    var broken = {};
    document.querySelectorAll("#rules li[data-terms]").forEach(function (li) {
      var terms = li.getAttribute("data-terms").split(",").filter(Boolean);
      var sum = 0, missing = false, bad = false;
      terms.forEach(function (t) {
        var i = t.lastIndexOf(":");
        var v = value(t.slice(0, i));
        if (v === null) missing = true;
        else if (isNaN(v)) bad = true;
        else sum += Number(t.slice(i + 1)) * v;
      });
      var lo = Number(li.getAttribute("data-lower")), hi = Number(li.getAttribute("data-upper"));
      var state = li.querySelector(".rule-state");
      li.classList.remove("pass", "broken", "pending");
      if (bad) {
        li.classList.add("broken");
        state.textContent = " — 不是数字 / not a number";
      } else if (missing) {
        li.classList.add("pending");
        state.textContent = " — 待填 / not all filled in";
      } else if (sum >= lo - 1e-7 && sum <= hi + 1e-7) {
        li.classList.add("pass");
        state.textContent = " — 符合 / holds";
      } else {
        li.classList.add("broken");
        state.textContent = " — 不符 / broken";
      }
      if (li.classList.contains("broken")) {
        li.getAttribute("data-cells").split(",").forEach(function (c) { broken[c] = true; });
      }
    });
    document.querySelectorAll("input.fig[data-code]").forEach(function (el) {
      el.classList.toggle("rule-broken", !!broken[el.getAttribute("data-code")]);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("figures");
    if (form) {
      form.addEventListener("input", check);
      check();
    }
  });
})();
