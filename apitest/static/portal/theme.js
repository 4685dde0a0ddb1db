// Applies a saved theme choice before the page paints (loaded in <head>, not deferred).
// Without a saved choice the stylesheet follows prefers-color-scheme.
(function () {
  "use strict";
  try {
    var saved = window.localStorage.getItem("apitest-theme");
    if (saved === "light" || saved === "dark") {
      document.documentElement.setAttribute("data-theme", saved);
    }
  } catch (e) {
    // localStorage can be unavailable (privacy settings): the system setting applies.
  }
})();
