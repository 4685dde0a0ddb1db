// Starts Swagger UI on the /docs page. Kept out of the HTML so the page can run under a strict CSP
// (script-src 'self'). URLs come from data attributes and resolve against the page, so the page also
// works behind a gateway that serves the fixture under a path prefix.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  var resolve = function (relative) {
    return new URL(relative, document.baseURI).href;
  };
  window.ui = SwaggerUIBundle({
    url: resolve(root.dataset.openapiUrl),
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    oauth2RedirectUrl: resolve(root.dataset.oauth2RedirectUrl),
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
