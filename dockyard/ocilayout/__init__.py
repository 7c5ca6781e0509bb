"""OCI image layouts on disk: ``dockyard export`` writes them, ``dockyard import`` reads
them, both through the registry's services (so a proxied repository refuses imports)."""
