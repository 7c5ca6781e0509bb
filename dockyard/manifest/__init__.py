"""Manifest parsing and validation, one module per media-type family."""
