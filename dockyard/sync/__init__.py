"""Copying content between registries and layouts: the pieces ``export``, ``import`` and
the proxy share."""

# The configuration model declares the sync section with ``settings``' classes: loading
# the configuration first lets ``settings`` be imported on its own, in either order.
import dockyard.config  # noqa: F401
