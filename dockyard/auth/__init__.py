"""Access control: htpasswd, bearer tokens and the built-in token server."""
