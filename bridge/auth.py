"""JWT bearer tokens for the HTTP API: HS256, signed with MIXBRIDGE_JWT_SECRET.

The token's ``sub`` is the user, and names the user's media folder: it must be a
plain name (letters, digits, ``.``, ``_``, ``@``, ``-``; not empty, not ``.``/``..``).
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any

from core.errors import BridgeError

ALGORITHM = "HS256"
ISSUER = "mixbridge"
USER_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}")
MAX_TTL_DAYS = 366


class AuthError(BridgeError):
    """A missing, malformed, expired or wrongly signed token."""


def secret() -> str:
    """The signing secret (MIXBRIDGE_JWT_SECRET); refuses to run without one."""
    s = os.environ.get("MIXBRIDGE_JWT_SECRET", "")
    if len(s) < 32:
        raise BridgeError("set MIXBRIDGE_JWT_SECRET to a secret of at least 32 characters (HS256 wants 256 bits)")
    return s


def check_user(user: Any) -> str:
    """``user`` if it is a usable user name (it names a media folder); BridgeError otherwise."""
    if not isinstance(user, str) or not USER_RE.fullmatch(user):
        raise BridgeError("a user name is 1-64 letters, digits, '.', '_', '@' or '-' (not starting with '.')")
    return user


def issue_token(user: str, key: str | None = None, ttl_s: float = 7 * 24 * 3600) -> str:
    """A signed token for ``user`` that expires after ``ttl_s`` seconds (positive, at most a year).

    Examples
    --------
    >>> issue_token("alice", key="0123456789abcdef")   # doctest: +SKIP
    'eyJhbGciOiJIUzI1NiIs...'
    """
    import jwt

    check_user(user)
    if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and 0 < ttl_s <= MAX_TTL_DAYS * 86400):
        raise BridgeError(f"a token's validity must be a positive number of days, at most {MAX_TTL_DAYS}")
    now = int(time.time())
    claims = {"sub": user, "iss": ISSUER, "iat": now, "exp": now + max(1, int(ttl_s))}
    return jwt.encode(claims, key or secret(), algorithm=ALGORITHM)


def verify_token(token: str, key: str | None = None) -> dict[str, Any]:
    """The token's claims; AuthError says why a token is refused (an empty or unusable ``sub`` too)."""
    import jwt

    try:
        claims = jwt.decode(token, key or secret(), algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iss"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidTokenError as e:
        raise AuthError(f"invalid token: {e}") from None
    try:
        check_user(claims["sub"])
    except BridgeError as e:
        raise AuthError(f"invalid token: the subject is not a usable user name ({e})") from None
    return dict(claims)
