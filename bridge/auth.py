"""JWT bearer tokens for the HTTP API: HS256, signed with MIXBRIDGE_JWT_SECRET."""

from __future__ import annotations

import os
import time
from typing import Any

from core.errors import BridgeError

ALGORITHM = "HS256"
ISSUER = "mixbridge"


class AuthError(BridgeError):
    """A missing, malformed, expired or wrongly signed token."""


def secret() -> str:
    """The signing secret (MIXBRIDGE_JWT_SECRET); refuses to run without one."""
    s = os.environ.get("MIXBRIDGE_JWT_SECRET", "")
    if len(s) < 32:
        raise BridgeError("set MIXBRIDGE_JWT_SECRET to a secret of at least 32 characters (HS256 wants 256 bits)")
    return s


def issue_token(user: str, key: str | None = None, ttl_s: int = 7 * 24 * 3600) -> str:
    """A signed token for ``user`` that expires after ``ttl_s`` seconds.

    Examples
    --------
    >>> issue_token("alice", key="0123456789abcdef")   # doctest: +SKIP
    'eyJhbGciOiJIUzI1NiIs...'
    """
    import jwt

    if not user or not isinstance(user, str):
        raise BridgeError("a token needs a user name")
    now = int(time.time())
    claims = {"sub": user, "iss": ISSUER, "iat": now, "exp": now + int(ttl_s)}
    return jwt.encode(claims, key or secret(), algorithm=ALGORITHM)


def verify_token(token: str, key: str | None = None) -> dict[str, Any]:
    """The token's claims; AuthError says why a token is refused."""
    import jwt

    try:
        claims = jwt.decode(token, key or secret(), algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iss"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidTokenError as e:
        raise AuthError(f"invalid token: {e}") from None
    return dict(claims)
