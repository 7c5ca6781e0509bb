"""The storage layer: path mapper, content stores and the registry services."""
