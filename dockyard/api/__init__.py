"""The HTTP layer: routes, handlers and OCI errors."""
