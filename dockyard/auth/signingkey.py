"""The token server's signing key: loaded from a PEM file, or generated once and kept.

With no ``key`` configured, an EC P-256 key is generated on first start and written to
``<data_dir>/auth/token-signing-key.pem`` (mode 0600, folder 0700), created atomically so
that several processes starting together agree on one key; later starts reuse it. Next to
it a self-signed certificate for the key (``token-signing-cert.pem``) is written, so other
registries can trust the tokens through their ``rootcertbundle``.
"""

from __future__ import annotations

import datetime
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from dockyard.auth.errors import AuthConfigError
from dockyard.auth.jwt import algorithm_for
from dockyard.auth.keys import PrivateKey, PublicKey, libtrust_key_id, public_jwk

log = logging.getLogger(__name__)

KEY_FILE: Final = "token-signing-key.pem"
CERT_FILE: Final = "token-signing-cert.pem"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key, the JWS algorithm it signs with, and the ``kid`` tokens carry."""

    private_key: PrivateKey
    algorithm: str
    kid: str

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK for the JWKS document."""
        return {**public_jwk(self.public_key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @classmethod
    def from_private_key(cls, key: PrivateKey) -> SigningKey:
        public = key.public_key()
        return cls(key, algorithm_for(key), libtrust_key_id(public))


def _as_private_key(key: object, config_key: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise AuthConfigError(config_key, "RSA keys must have at least 2048 bits")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise AuthConfigError(config_key, "EC keys must use P-256, P-384 or P-521")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key
    raise AuthConfigError(config_key, "unsupported private key type")


def load_signing_key(path: Path, config_key: str) -> SigningKey:
    """A signing key from a PEM private key file (RSA, EC or Ed25519).

    A file others than its owner may read or write is loaded, with a warning naming it
    and its mode: anyone who can read it can mint tokens for any user.
    """
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            data = f.read()
    except OSError as e:
        raise AuthConfigError(config_key, f"cannot read the key file ({e.strerror})") from None
    if mode & 0o077:
        log.warning(
            "%s: the token signing key %s has mode %04o, so other users of this machine "
            "may read it and mint tokens; restrict it with chmod 600",
            config_key,
            path,
            mode,
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise AuthConfigError(config_key, "not an unencrypted PEM private key") from None
    return SigningKey.from_private_key(_as_private_key(key, config_key))


def _write_new(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` (mode 0600) unless it exists; True if created."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True


def _self_signed_certificate(key: PrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard token signing")])
    now = datetime.datetime.now(datetime.UTC)
    digest = (
        None
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else hashes.SHA256()
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, digest)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _keep_private(folder: Path) -> None:
    """Make the key's folder 0700: tightened if it holds only what dockyard writes there
    (an older dockyard created it 0755), else left alone with a warning."""
    mode = folder.stat().st_mode & 0o777
    if not mode & 0o077:
        return
    ours = all(
        entry.name in (KEY_FILE, CERT_FILE)
        or entry.name.startswith((f".{KEY_FILE}.", f".{CERT_FILE}."))
        for entry in folder.iterdir()
    )
    if ours:
        folder.chmod(0o700)
        log.warning("the token signing key folder %s had mode %04o; made it 0700", folder, mode)
    else:
        log.warning(
            "the token signing key folder %s has mode %04o and holds files dockyard did not "
            "write there; restrict it with chmod 700",
            folder,
            mode,
        )


def generated_signing_key(data_dir: Path, config_key: str) -> SigningKey:
    """The key kept in ``data_dir``, generated (EC P-256) if there is none yet."""
    folder = data_dir / "auth"
    path = folder / KEY_FILE
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _keep_private(folder)
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if _write_new(path, pem):
                log.info("generated a token signing key in the data folder")
                _write_new(folder / CERT_FILE, _self_signed_certificate(key))
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("token signing key was readable by others (mode %o); fixing", mode)
            path.chmod(0o600)
    except OSError as e:
        raise AuthConfigError(
            config_key, f"cannot keep the signing key in the data folder ({e.strerror})"
        ) from None
    return load_signing_key(path, config_key)
