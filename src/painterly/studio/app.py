"""The studio's web app: the REST API under ``/api``, an event stream of each job's progress,
the page under ``/`` and the OpenAPI docs at ``/docs`` (served from local files).

It only translates between HTTP and :class:`~painterly.studio.service.Studio`; every client
mistake becomes a 4xx answer with one sentence in ``detail`` (docs/studio.md lists them):
400 a body that cannot be read, 401/403/421 the refusals of :mod:`~painterly.studio.guard`,
404 an unknown id or path, 409 a job in the wrong state, 413 too large, 422 a request that
was read but asks for something invalid (a bad option, a bad image, a wrong type), 503 too
many uploads at once.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field

from painterly import __version__
from painterly.config.options import METHODS, field_default, option_fields
from painterly.config.presets import PRESETS
from painterly.errors import PainterlyError
from painterly.studio.guard import Access, Guard, SecurityHeaders
from painterly.studio.live import shown
from painterly.studio.service import (
    MAX_EVALUATIONS,
    MAX_STYLES,
    SERVER_OPTIONS,
    STUDIO_CHOICES,
    Studio,
    examples,
)
from painterly.studio.store import FINISHED, Job
from painterly.studio.uploads import DecodeSlots, UploadRejected, takes_video

STATIC = Path(__file__).resolve().parent / "static"
EVENT_WAIT_SECONDS = 5.0
"""Longest an event stream waits for a change before it looks at the stored job again.
Changes wake it at once; this only bounds how long the thread of a wait outlives a client
that went away, and catches a change to the store that no one told of."""

MAX_WAITING_STREAMS = 64
"""Event streams that wait at once, each in a thread; more wait their turn (and catch up)."""

MAX_JSON_BYTES = 64 * 1024
"""Largest body of a request other than an upload (a job's options are a few hundred)."""

RESULT_TYPES = {".png": "image/png", ".mp4": "video/mp4"}


class InputRef(BaseModel):
    """An image for a job: an upload's id or a bundled example's name."""

    model_config = ConfigDict(extra="forbid")

    upload: str | None = None
    example: str | None = None


class JobRequest(BaseModel):
    """A new job: content (an image, or a clip for a video job), one or more styles, Options
    values and a video job's settings (names as in the API)."""

    model_config = ConfigDict(extra="forbid")

    content: InputRef
    styles: list[InputRef] = Field(description=f"1 to {MAX_STYLES} style images")
    options: dict[str, Any] = Field(default_factory=dict)
    video: dict[str, Any] | None = Field(
        None, description="a video job's settings (GET /api/options: video_fields)"
    )
    parent: str | None = Field(None, description="the job this one re-runs with changes")


def _ref(ref: InputRef) -> dict[str, str]:
    return {k: v for k, v in ref.model_dump().items() if v is not None}


def job_json(job: Job, studio: Studio) -> dict[str, Any]:
    values = dataclasses.asdict(job)
    values.pop("seq")
    base = f"/api/jobs/{job.id}"
    has_result = studio.result_path(job).is_file() if job.state != "running" else False
    values["urls"] = {
        "self": base,
        "events": f"{base}/events",
        "preview": f"{base}/preview",
        "result": f"{base}/result" if has_result else None,
        "content": _input_url(job.content),
        "styles": [_input_url(style) for style in job.styles],
    }
    return values


def _input_url(ref: dict[str, str]) -> str:
    if "upload" in ref:
        return f"/api/uploads/{ref['upload']}/image"
    return f"/api/examples/{ref['example']}"


def video_schema() -> list[dict[str, Any]]:
    """Every setting a video job may set, with its help, default and the words for it."""
    from painterly.video.settings import setting_fields

    return [
        {
            "name": f.name,
            "help": f.metadata["help"],
            "default": f.default,
            "default_text": f.metadata["default_text"],
        }
        for f in setting_fields()
    ]


def option_schema() -> list[dict[str, Any]]:
    """Every Options field a client may set, with its help, default and choices."""
    fields = []
    for f in option_fields():
        if f.name in SERVER_OPTIONS:
            continue
        default = field_default(f)
        fields.append(
            {
                "name": f.name,
                "help": f.metadata["help"],
                "default": default,
                "choices": list(STUDIO_CHOICES.get(f.name, f.metadata.get("choices", ()))) or None,
            }
        )
    return fields


def validation_answer(error: RequestValidationError) -> JSONResponse:
    """FastAPI's list of validation errors as one sentence about the first: 400 for a body
    that is not JSON at all, 422 for a value of the wrong form (never echoing the value)."""
    first = next(iter(error.errors()), None)
    if first is None or not first["loc"]:
        return JSONResponse({"detail": "the request is not valid"}, 422)
    if first["type"] == "json_invalid":
        return JSONResponse({"detail": "the request body is not valid JSON"}, 400)
    where = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0])
    if first["type"] == "missing":
        return JSONResponse({"detail": f"the request lacks {where}"}, 422)
    message = str(first["msg"])
    detail = f"the request's {where} is not valid: {message[:1].lower()}{message[1:]}"
    return JSONResponse({"detail": detail}, 422)


class BodyLimit:
    """Refuse request bodies above their limit before they are read into memory or disk:
    ``upload_bytes`` for ``POST /api/uploads``, :data:`MAX_JSON_BYTES` for the rest."""

    def __init__(self, app: Any, upload_bytes: int) -> None:
        self.app, self.upload_bytes = app, upload_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.upload_bytes if scope["path"] == "/api/uploads" else MAX_JSON_BYTES
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = JSONResponse(
            {"detail": f"the request is larger than the limit of {max_bytes:,} bytes"}, 413
        )
        if length is not None and length.isdigit() and int(length) > max_bytes:
            await too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise HTTPException(413, bytes(too_large.body).decode())
            return message

        await self.app(scope, limited, send)


def create_app(studio: Studio, *, access: Access, start_workers: bool = True) -> FastAPI:
    """The web app over ``studio``, answering the requests ``access`` allows; its workers
    start and stop with the app's lifespan."""

    # Threads of their own, so that waiting streams never hold up an upload or the shutdown.
    waits = ThreadPoolExecutor(MAX_WAITING_STREAMS, thread_name_prefix="painterly-events")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            studio.start()
        try:
            yield
        finally:
            await asyncio.to_thread(studio.close)
            waits.shutdown(wait=False, cancel_futures=True)

    app = FastAPIOffline(
        title="painterly studio",
        version=__version__,
        description="Neural style transfer jobs over the same Options as the painterly CLI.",
        lifespan=lifespan,
        static_url="/docs-static",
    )
    # The last added runs first: headers on every answer, then the guard, then the limit.
    # Room for the multipart framing around an upload of the largest accepted size.
    app.add_middleware(BodyLimit, upload_bytes=studio.limits.upload_bytes + 64 * 1024)
    app.add_middleware(Guard, access=access)
    app.add_middleware(SecurityHeaders)
    decoding = DecodeSlots(studio.limits)

    @app.exception_handler(PainterlyError)
    async def user_error(_: Request, error: PainterlyError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(UploadRejected)
    async def bad_upload(_: Request, error: UploadRejected) -> JSONResponse:
        retry = {"Retry-After": "5"} if error.status == 503 else None
        return JSONResponse({"detail": str(error)}, status_code=error.status, headers=retry)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return validation_answer(error)

    def find(job_id: str) -> Job:
        job = studio.view(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/options", summary="What a job may set: options, methods, presets, examples")
    def options() -> dict[str, Any]:
        return {
            "fields": option_schema(),
            "video_fields": video_schema(),
            "takes_video": takes_video(),
            "methods": list(METHODS),
            "presets": {name: dict(values) for name, values in PRESETS.items()},
            "examples": list(examples()),
            "limits": {
                "max_upload_bytes": studio.limits.max_bytes,
                "max_upload_pixels": studio.limits.max_pixels,
                "max_video_upload_bytes": studio.limits.max_video_bytes,
                "max_video_seconds": studio.limits.max_video_seconds,
                "max_size": studio.max_size,
                "max_styles": MAX_STYLES,
                "max_evaluations": MAX_EVALUATIONS,
                "uploads_decoded_at_once": studio.limits.decode_slots,
            },
        }

    @app.get("/api/examples/{name}", summary="A bundled example image")
    def example(name: str) -> FileResponse:
        path = examples().get(name)
        if path is None:
            raise HTTPException(404, "no such example")
        return FileResponse(path)

    @app.post(
        "/api/uploads", status_code=201, summary="Upload an image or a clip (decoded and checked)"
    )
    async def upload(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        # Read into memory only in a slot: a waiting upload stays spooled (on disk above 1 MB).
        async with decoding.hold():
            data = await file.read(studio.limits.upload_bytes + 1)
            stored = await asyncio.to_thread(studio.add_upload, data, file.filename or "")
        return dataclasses.asdict(stored) | {"url": f"/api/uploads/{stored.id}/image"}

    @app.get(
        "/api/uploads/{upload_id}/image",
        summary="An uploaded image, as stored (a clip's first frame)",
    )
    def upload_image(upload_id: str) -> FileResponse:
        try:
            path = studio.upload_path(upload_id)
        except KeyError:
            raise HTTPException(404, "no such upload") from None
        if not path.is_file():
            raise HTTPException(404, "no such upload")
        return FileResponse(path, media_type="image/png")

    @app.post("/api/jobs", status_code=201, summary="Queue a job")
    def create_job(request: JobRequest) -> dict[str, Any]:
        job = studio.submit(
            _ref(request.content),
            [_ref(style) for style in request.styles],
            request.options,
            request.parent,
            request.video,
        )
        return job_json(job, studio)

    @app.get("/api/jobs", summary="Every job, newest first")
    def list_jobs() -> list[dict[str, Any]]:
        views = (studio.view(job.id) for job in studio.store.list_jobs())
        return [job_json(view, studio) for view in views if view is not None]  # not deleted

    @app.get("/api/jobs/{job_id}", summary="A job: state, progress, losses, ETA")
    def get_job(job_id: str) -> dict[str, Any]:
        return job_json(find(job_id), studio)

    @app.get(
        "/api/jobs/{job_id}/events",
        summary="Server-sent events: the job after each change, with a preview image",
        response_class=StreamingResponse,
    )
    async def events(job_id: str) -> StreamingResponse:
        find(job_id)
        return StreamingResponse(
            _event_stream(studio, job_id, waits),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    @app.get(
        "/api/jobs/{job_id}/preview",
        summary="The latest preview, else the result, else the last checkpoint (a video "
        "job: the latest frame)",
    )
    def preview(job_id: str) -> Response:
        job = find(job_id)
        change = studio.lives.latest(job_id)
        if change is not None and change.state == "running" and change.preview is not None:
            return Response(change.preview, media_type="image/jpeg")
        path = studio.still_path(job)
        # While a job runs again, its result is the earlier run's: not this run's image.
        if path is None or (job.state == "running" and path == studio.result_path(job)):
            raise HTTPException(404, "this job has no image yet")
        return FileResponse(path, media_type="image/png")

    @app.get("/api/jobs/{job_id}/result", summary="Download the result (PNG; a video job: MP4)")
    def result(job_id: str, download: bool = True) -> FileResponse:
        job = find(job_id)
        path = studio.result_path(job)
        if job.state == "running" or not path.is_file():
            raise HTTPException(404, "this job has no result yet")
        name = f"painterly-{job.id[:8]}{path.suffix}"
        return FileResponse(
            path,
            media_type=RESULT_TYPES[path.suffix],
            filename=name if download else None,
            content_disposition_type="attachment" if download else "inline",
        )

    @app.post("/api/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
    def cancel(job_id: str) -> dict[str, Any]:
        find(job_id)
        if not studio.cancel(job_id):
            raise HTTPException(409, "this job has already finished")
        return job_json(find(job_id), studio)

    @app.post("/api/jobs/{job_id}/restart", summary="Queue an interrupted/failed/cancelled job")
    def restart(job_id: str) -> dict[str, Any]:
        find(job_id)
        if not studio.restart(job_id):
            raise HTTPException(
                409, "only an interrupted, failed or cancelled job can be restarted"
            )
        return job_json(find(job_id), studio)

    @app.delete("/api/jobs/{job_id}", status_code=204, summary="Delete a job and its files")
    def delete(job_id: str) -> Response:
        find(job_id)
        if not studio.delete(job_id):
            raise HTTPException(409, "this job is running; cancel it first")
        return Response(status_code=204)

    return app


async def _event_stream(studio: Studio, job_id: str, waits: Executor) -> AsyncIterator[bytes]:
    """``data:`` lines with the job (as in GET /api/jobs/ID) as it is now and after each change
    the worker tells of, in order, plus ``preview`` (a JPEG data URL) when a new preview
    exists; the last is the finished job with its final image as ``preview``."""
    live = studio.lives.hold(job_id)  # held, so that a worker taking the job tells this one
    changes = [live.latest]
    sent, preview_sent = "", 0
    while True:
        job = studio.store.get_job(job_id)  # after the changes: the store is as new
        if job is None:
            yield b"event: deleted\ndata: {}\n\n"
            return
        for change in changes:
            message = job_json(shown(job, change), studio)
            if message["state"] in FINISHED:
                final = await asyncio.to_thread(studio.final_preview, job)
                yield _event(message, final)
                return
            text = json.dumps(message)
            preview = change.preview if change.preview_version > preview_sent else None
            if preview is not None:
                preview_sent = change.preview_version
            if text != sent or preview is not None:
                yield _event(message, preview)
                sent = text
        newer = await asyncio.get_running_loop().run_in_executor(
            waits, live.wait_newer, changes[-1].version, EVENT_WAIT_SECONDS
        )
        # None within the wait: the last change again, over what the store has now.
        changes = newer or changes[-1:]


def _event(message: dict[str, Any], preview: bytes | None) -> bytes:
    if preview is not None:
        encoded = base64.b64encode(preview).decode()
        message = message | {"preview": f"data:image/jpeg;base64,{encoded}"}
    return f"data: {json.dumps(message)}\n\n".encode()


def serve(
    studio: Studio, listeners: list[socket.socket], access: Access, log_level: str = "warning"
) -> None:  # pragma: no cover - exercised by the server-process tests
    """Answer on ``listeners``, sockets already bound (so that their errors are the
    caller's to tell in one sentence), until Ctrl-C or SIGTERM."""
    import uvicorn

    config = uvicorn.Config(
        create_app(studio, access=access), log_level=log_level, timeout_graceful_shutdown=3
    )
    uvicorn.Server(config).run(sockets=listeners)
