"""The HTTP API (FastAPI): the reference design's endpoints under /api/v1/enhancement.

Every endpoint needs a JWT bearer token. Audio paths resolve only inside the media
root. Long jobs (/complete) may run asynchronously: 202 with a job id, then GET
/api/v1/jobs/{id}. Errors: 401 bad token, 403 another user's song or
configuration, 404 missing file or song, 422 invalid body or unusable audio, 400
a refused path, 413 a body over 1 MiB, 503 (with Retry-After) a memory service
that is down and could not even queue the request, 500 only for real internal
failures (a message, no stack trace). No error repeats what the client sent.
"""

from __future__ import annotations

import errno
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from bridge.auth import AuthError, verify_token
from bridge.media import PathRefused
from core.errors import AudioFileError, MemoryUnavailableError, MixbridgeError, ParameterError, SessionError
from core.errors import NotFoundError as NotFound
from core.errors import PermissionDeniedError as Forbidden
from core.files import OutputError

log = logging.getLogger(__name__)
PREFIX = "/api/v1/enhancement"
MAX_BODY = 1 << 20  # bytes: every request body is JSON of a few hundred bytes
RETRY_AFTER_S = 30

MediaPath = Annotated[StrictStr, Field(min_length=1, max_length=16384)]  # resolve_media: 400 over 1,024
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]


# -- bodies (the reference design's, with strict types) -----------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QualityMetrics(BaseModel):
    pesq: float | None = None
    stoi: float | None = None
    mos: float | None = None
    overall: float | None = None


class EnhancementResponse(BaseModel):
    success: bool
    enhanced_audio_path: str | None = None
    quality_metrics: QualityMetrics = Field(default_factory=QualityMetrics)
    enhancement_applied: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    render_id: str | None = None


class VoiceRequest(Strict):
    audio_path: MediaPath
    enable_neural_vocoder: StrictBool = True
    enable_prosody: StrictBool = True
    enable_auto_tune: StrictBool = False
    target_key: Name | None = "C major"


class MixingRequest(Strict):
    vocals_path: MediaPath
    music_path: MediaPath
    genre: Name = "pop"
    enable_frequency_balancing: StrictBool = True
    enable_sidechain: StrictBool = True
    enable_stereo_imaging: StrictBool = True
    mixing_config_id: Id | None = None


class EnhancementConfig(Strict):
    enable_voice_enhancement: StrictBool = True
    enable_prosody_enhancement: StrictBool = True
    enable_auto_tune: StrictBool = False
    enable_intelligent_mixing: StrictBool = True
    enable_stereo_imaging: StrictBool = True
    enable_genre_specific_mixing: StrictBool = True
    enable_memory_learning: StrictBool = True
    track_quality_metrics: StrictBool = True


class CompleteRequest(Strict):
    song_id: Id
    enhancement_config: EnhancementConfig = Field(default_factory=EnhancementConfig)
    run_async: StrictBool = Field(False, alias="async")


Rating = Annotated[StrictInt, Field(ge=1, le=5)]


class FeedbackRequest(Strict):
    render_id: Id
    overall: Rating
    vocals_clarity: Rating | None = None
    music_balance: Rating | None = None
    stereo_width: Rating | None = None
    eq_quality: Rating | None = None
    reverb_quality: Rating | None = None
    comment: Annotated[StrictStr, Field(max_length=2000)] | None = None
    is_liked: StrictBool | None = None
    directions: dict[Literal["stereo_width", "eq_quality", "music_balance", "reverb_quality"],
                     Literal[-1, 0, 1]] | None = Field(
        None, description="which way an aspect is off: stereo_width -1 too narrow / +1 too wide; eq_quality "
                          "-1 too dark / +1 too bright; music_balance -1 vocal too quiet / +1 too loud; "
                          "reverb_quality -1 too dry / +1 too wet; 0 about right")


class JobState(BaseModel):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    result: EnhancementResponse | None = None
    error: str | None = None


@dataclass
class Job:
    user: str
    status: str = "queued"
    result: dict[str, Any] | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The token's user (checked by the app's middleware; the header is declared for OpenAPI)."""
    return str(request.state.user)


User = Annotated[str, Depends(current_user)]


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before the app reads any of it.

    A declared Content-Length over the limit is refused at once; a chunked body is
    counted as it arrives and refused the moment it passes the limit, so a 500 MB
    upload costs at most ``max_bytes`` of memory. The body (at most ``max_bytes``) is
    then handed to the app as it came.
    """

    def __init__(self, app: Any, max_bytes: int = MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> Any:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        msg = f"request body too large (at most {self.max_bytes} bytes)"
        response = JSONResponse({"success": False, "error": msg, "detail": msg}, 413, headers={"Connection": "close"})
        await response(scope, receive, send)


def _where(loc: Any) -> str:
    """A validation error's location, each part cut short (a key name is the client's input too)."""
    return ".".join(str(part)[:40] for part in loc if part != "body") or "body"


# -- the app ---------------------------------------------------------------------------
def create_app(services: Any, secret: str | None = None) -> FastAPI:
    """Build the API; ``services`` does the work (the application's ``app.song.Services``).

    The transport knows only the methods it calls (voice, mixing, complete, feedback,
    ...), so bridge/ never imports the application above it.

    Examples
    --------
    >>> app = create_app(Services("/srv/media", memory=MemoryService()))   # doctest: +SKIP
    """
    app = FastAPI(title="mixbridge", version="0.1.0",
                  description="Voice enhancement, intelligent mixing and mastering, with memory.")
    jobs: dict[str, Job] = {}
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mixbridge-job")
    app.state.services = services
    app.state.jobs = jobs
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY)

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"success": False, "error": message, "detail": message}, status, headers=headers)

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        """Every /api request needs a valid token, checked before the body is even parsed."""
        if request.url.path.startswith("/api/"):
            header = request.headers.get("authorization", "")
            try:
                if not header.startswith("Bearer "):
                    raise AuthError("missing bearer token")
                request.state.user = str(verify_token(header[7:].strip(), key=secret)["sub"])
            except AuthError as e:
                return error(401, str(e), {"WWW-Authenticate": "Bearer"})
        return await call_next(request)


    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        """422 naming each field and rule broken; never the submitted value (FastAPI's default echoes it)."""
        problems = [f"{_where(err.get('loc', ()))}: {err.get('msg', 'invalid')}" for err in e.errors()[:20]]
        return error(422, "invalid request: " + "; ".join(problems))

    @app.exception_handler(MemoryUnavailableError)
    async def _down(_: Request, e: MemoryUnavailableError) -> JSONResponse:
        return error(503, str(e), {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, e: Forbidden) -> JSONResponse:
        return error(403, str(e))

    @app.exception_handler(NotFound)
    async def _missing(_: Request, e: NotFound) -> JSONResponse:
        return error(404, str(e))

    @app.exception_handler(FileNotFoundError)
    async def _nofile(_: Request, e: FileNotFoundError) -> JSONResponse:
        return error(404, str(e))

    @app.exception_handler(PathRefused)
    async def _path(_: Request, e: PathRefused) -> JSONResponse:
        return error(400, f"path refused: {e}")

    @app.exception_handler(MixbridgeError)
    async def _bad(_: Request, e: MixbridgeError) -> JSONResponse:
        if isinstance(e, (AudioFileError, ParameterError, SessionError)):
            return error(422, str(e))
        if isinstance(e, OutputError) and e.errno == errno.ENOSPC:
            log.error("disk full: %s", e)
            return error(507, "the server's disk is full; nothing was written, try again later")
        log.exception("request failed")
        return error(500, f"{type(e).__name__}: {e}")

    @app.exception_handler(Exception)
    async def _internal(_: Request, e: Exception) -> JSONResponse:
        log.exception("internal error")
        return error(500, f"internal error ({type(e).__name__}); see the server log")

    @app.post(f"{PREFIX}/voice", response_model=EnhancementResponse)
    def voice(body: VoiceRequest, who: User) -> dict[str, Any]:
        return services.voice(who, body.model_dump())

    @app.post(f"{PREFIX}/mixing", response_model=EnhancementResponse)
    def mixing(body: MixingRequest, who: User) -> dict[str, Any]:
        return services.mixing(who, body.model_dump())

    @app.post(f"{PREFIX}/complete", response_model=EnhancementResponse,
              responses={202: {"model": JobState}})
    def complete(body: CompleteRequest, who: User) -> Any:
        services.check_song(who, body.song_id)  # 404/403 before any work is queued
        config = body.enhancement_config.model_dump()
        if not body.run_async:
            return services.complete(who, body.song_id, config)
        job_id = uuid.uuid4().hex
        job = jobs[job_id] = Job(user=who)

        def run() -> None:
            job.status = "running"
            try:
                job.result = services.complete(who, body.song_id, config)
                job.status = "done"
            except Exception as e:  # noqa: BLE001 - reported through the job, not raised
                log.exception("job %s failed", job_id)
                job.error = f"{type(e).__name__}: {e}"
                job.status = "failed"

        pool.submit(run)
        return JSONResponse({"job_id": job_id, "status": "queued"}, 202,
                            headers={"Location": f"/api/v1/jobs/{job_id}"})

    @app.get("/api/v1/jobs/{job_id}", response_model=JobState)
    def job_state(job_id: str, who: User) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if job.user != who:
            raise Forbidden("that job belongs to another user")
        return {"job_id": job_id, "status": job.status, "result": job.result, "error": job.error}

    @app.post(f"{PREFIX}/feedback", responses={202: {"description": "database down: rating queued, stored later"}})
    def feedback(body: FeedbackRequest, who: User) -> Any:
        stored = services.feedback(who, body.model_dump(exclude_none=True))
        return JSONResponse(stored, 202) if stored.get("queued") else stored

    @app.get(f"{PREFIX}/recommendations")
    def recommendations(
        who: User,
        genre: Annotated[str, Query(min_length=1, max_length=40)] = "pop",
        audio_path: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> dict[str, Any]:
        return services.recommendations(who, genre, audio_path)

    return app
