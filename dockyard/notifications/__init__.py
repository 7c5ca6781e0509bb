"""Webhook notifications: events of pushes, pulls, mounts and deletes, queued durably."""
