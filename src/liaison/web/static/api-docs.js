// The node's API docs (/api/docs): Swagger UI, vendored under vendor/swagger-ui/, on this
// node's OpenAPI description. A file of its own: the console's CSP runs no inline script.
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,  // no badge fetched from elsewhere: nodes have no internet
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
