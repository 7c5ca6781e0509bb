"""Storage drivers: bytes at paths, behind one async interface."""
