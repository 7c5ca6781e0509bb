"""Operating dockyard: metrics, health and readiness, the debug listener, tracing."""
