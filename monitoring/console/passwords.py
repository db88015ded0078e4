"""Password hashes for operator accounts: scrypt with a random salt per account.

A stored hash reads ``scrypt$N$r$p$salt$hash`` (salt and hash in URL-safe base64), so the cost
can be raised later without invalidating the hashes already stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

SCHEME = "scrypt"
# N=2**14, r=8, p=1 is the interactive-login setting of the scrypt paper; it needs 16 MiB per hash.
COST, BLOCK_SIZE, PARALLELISM = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_LENGTH = 12
MAX_LENGTH = 1024


def check_strength(password: str) -> str | None:
    """Return why ``password`` is unacceptable, or None when it is long enough."""
    if len(password) < MIN_LENGTH:
        return f"password has {len(password)} characters; expected at least {MIN_LENGTH}"
    if len(password) > MAX_LENGTH:
        return f"password has {len(password)} characters; expected at most {MAX_LENGTH}"
    return None


def hash_password(password: str) -> str:
    """Hash ``password`` with a new random salt, in the stored form described above."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, COST, BLOCK_SIZE, PARALLELISM)
    return "$".join([SCHEME, str(COST), str(BLOCK_SIZE), str(PARALLELISM), _encode(salt), _encode(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a stored hash in constant time; False for a malformed hash."""
    try:
        scheme, cost, block_size, parallelism, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = _decode(digest)
        actual = _scrypt(password, _decode(salt), int(cost), int(block_size), int(parallelism), len(expected))
    except ValueError:
        return False
    return secrets.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, cost: int, block_size: int, parallelism: int,
            length: int = HASH_BYTES) -> bytes:
    # maxmem must cover 128 * N * r bytes plus a margin, or OpenSSL rejects the parameters.
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost, r=block_size,
                          p=parallelism, maxmem=256 * cost * block_size, dklen=length)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
