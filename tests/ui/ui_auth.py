"""Users the web interface tests sign in as, and the auth sections that know them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def token_server_auth(htpasswd: Path) -> dict[str, Any]:
    """Token auth with the built-in server: alice may delete in ``team/*``, bob only pull,
    anyone may pull ``public/*``, alice alone gets the catalog."""
    return {
        "token": {
            "realm": "http://registry.test/auth/token",
            "service": "registry.test",
            "issuer": "dockyard",
        },
        "tokenserver": {
            "htpasswd": str(htpasswd),
            "rules": [
                {
                    "repositories": "public/*",
                    "users": ["*"],
                    "anonymous": True,
                    "actions": ["pull"],
                },
                {"repositories": "team/**", "users": ["alice"], "actions": ["*"]},
                {"repositories": "team/**", "users": ["bob"], "actions": ["pull"]},
                {"registry": "catalog", "users": ["alice"], "actions": ["*"]},
            ],
        },
    }
