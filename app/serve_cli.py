"""``mixbridge serve`` and ``mixbridge token`` (fastapi is imported only when serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.args import positive_days
from core.errors import MixbridgeError
from core.hookspecs import hookimpl

REPLAY_S = 30.0  # how often a server retries the ratings journaled while the database was down


@hookimpl
def mixbridge_commands(sub: Any, bench: Any) -> None:
    p = sub.add_parser("serve", help="serve the HTTP API (OpenAPI at /docs)")
    p.add_argument("--media-root", required=True, type=Path,
                   help="folder of per-user folders (<root>/<user>/...) that request audio paths resolve in")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("token", help="issue a JWT bearer token for a user (needs MIXBRIDGE_JWT_SECRET)")
    p.add_argument("user")
    p.add_argument("--days", type=positive_days, default=7.0, help="validity in days (default 7, at most 366)")
    p.set_defaults(func=cmd_token)


def cmd_serve(args: Any) -> int:
    import uvicorn

    from bridge.auth import secret

    secret()  # refuse to start without a signing secret
    if not args.media_root.is_dir():
        raise MixbridgeError(f"--media-root {args.media_root}: no such folder")
    from app.song import Services
    from bridge.api import create_app
    from memory.recorder import service

    memory = service()
    memory.replay_every(REPLAY_S)
    uvicorn.run(create_app(Services(args.media_root, memory=memory)), host=args.host, port=args.port)
    return 0


def cmd_token(args: Any) -> int:
    from bridge.auth import issue_token

    print(issue_token(args.user, ttl_s=args.days * 86400))
    return 0
