"""The pull-through cache: repositories served from the store and filled from upstreams.

``ProxyRegistry`` (``registry``) decorates the storage services of ``protocols.Registry``:
reads of a proxied repository come from the store and, on a miss or a stale tag, from the
upstream (``client``); pushes to it are refused. ``settings`` declares the ``proxy``
section of the configuration.
"""

# The configuration model declares the proxy section with ``settings``' classes: loading
# the configuration first lets ``settings`` be imported on its own, in either order.
import dockyard.config  # noqa: F401
