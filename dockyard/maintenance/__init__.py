"""Maintenance of a storage root beyond collection: deleting repositories, scrubbing."""
