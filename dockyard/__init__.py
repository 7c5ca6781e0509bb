"""dockyard: a container image registry for the OCI Distribution Spec and Docker Registry API v2."""
