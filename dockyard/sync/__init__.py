"""Copying content between registries and layouts: the pieces ``export``, ``import`` and
the proxy share."""
