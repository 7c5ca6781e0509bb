"""Scrubbing a storage root online: integrity checks and repairs (``dockyard scrub``)."""
