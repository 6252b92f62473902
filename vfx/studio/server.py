"""The studio's HTTP server: a Starlette app served by uvicorn, every request checked for the token.

Routes (each takes the token as ``?token=`` or an ``X-Vfx-Token`` header):

- ``/`` and ``/static/NAME``: the page (``static/``, shipped in the package);
- ``/api/state``, ``/api/options``, ``/api/audio`` (waveform, driver events): the pipeline as JSON;
  ``/api/frame`` (PNG or JPEG), ``/api/pixel``, ``/api/sheet``: pictures and pixel values;
- ``/api/events``: server-sent events (``reload``, ``render``);
- ``POST /api/render``, ``POST /api/render/cancel``, ``POST /api/reload``;
- ``/files/PATH``: a file of the pipeline's folder (``vfx.studio.files``); ``/outputs/JOB/N``: a
  rendered file that lies outside it.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import socket
import threading
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from ..errors import PipelineError, VfxError
from . import describe
from .events import sse
from .files import Refused, served_path
from .jobs import Busy, Renders

STATIC = {
    "index.html": "text/html; charset=utf-8",
    "studio.js": "text/javascript; charset=utf-8",
    "studio.css": "text/css; charset=utf-8",
}
#: headers every answer carries: nothing is fetched from elsewhere, nothing framed, nothing sniffed
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; media-src 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class TokenGate:
    """ASGI middleware: a request without the right token gets 403 and nothing else."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        for name, value in scope.get("headers", []):
            if name == b"x-vfx-token":
                given = value.decode("latin-1")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            await _plain(send, 403, b"forbidden: this studio needs the token printed when it started\n")
            return

        async def secured(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + SECURITY_HEADERS}
            await send(message)

        await self.app(scope, receive, secured)


async def _plain(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
            + SECURITY_HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(studio: Any, token: str):
    """The studio's ASGI application (the token gate around the Starlette routes)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    renders = studio.jobs if studio.jobs is not None else Renders(studio)

    def fail(exc: Exception) -> Response:
        if isinstance(exc, PipelineError):
            return JSONResponse({"error": str(exc), "problems": [describe.problem(p) for p in exc.problems]}, 409)
        if isinstance(exc, LookupError) and not isinstance(exc, IndexError):
            return JSONResponse({"error": str(exc).strip("'\"")}, 404)
        if isinstance(exc, (IndexError, ValueError)):
            return JSONResponse({"error": str(exc)}, 400)
        if isinstance(exc, VfxError):
            return JSONResponse({"error": str(exc)}, 500)
        raise exc

    def integer(request: Request, name: str, default: int | None = None) -> int:
        text = request.query_params.get(name)
        if text is None or text == "":
            if default is None:
                raise ValueError(f"'{name}' is required")
            return default
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"'{name}' must be a whole number, got {text!r}") from None

    async def page(request: Request) -> Response:
        return await static_file(request, "index.html")

    async def static(request: Request) -> Response:
        return await static_file(request, request.path_params["name"])

    async def static_file(request: Request, name: str) -> Response:
        if name not in STATIC:
            return Response("not found\n", 404, media_type="text/plain")
        data = resources.files("vfx.studio").joinpath("static", name).read_bytes()
        if name == "index.html":  # the page's own assets carry the token too
            data = data.replace(b"{{token}}", token.encode())
        return Response(data, media_type=STATIC[name], headers={"cache-control": "no-cache"})

    async def state(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(studio.state))

    async def options(request: Request) -> Response:
        try:
            data = await run_in_threadpool(
                studio.options_at, request.query_params.get("node"), integer(request, "frame", 0)
            )
        except Exception as exc:
            return fail(exc)
        return JSONResponse(data)

    async def frame(request: Request) -> Response:
        try:
            scale = integer(request, "scale", 1)
            if scale not in (1, 2, 4):
                raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
            fmt = request.query_params.get("format", "png")
            if fmt not in ("png", "jpeg"):
                raise ValueError(f"format must be png or jpeg, got {fmt!r}")
            quality = integer(request, "quality", 90)
            if not 1 <= quality <= 100:
                raise ValueError("quality must be within 1-100")
            data, media, seconds, cached = await run_in_threadpool(
                studio.frame_image,
                request.query_params.get("node"),
                integer(request, "frame", 0),
                scale,
                fmt,
                quality,
            )
        except Exception as exc:
            return fail(exc)
        headers = {
            "cache-control": "no-store",
            "server-timing": f"render;dur={seconds * 1000:.1f}",
            "x-vfx-cached": "1" if cached else "0",
        }
        return Response(data, media_type=media, headers=headers)

    async def audio(request: Request) -> Response:
        try:
            data = await run_in_threadpool(studio.audio)
        except Exception as exc:
            return fail(exc)
        return JSONResponse(data)

    async def pixel(request: Request) -> Response:
        try:
            data = await run_in_threadpool(
                studio.pixel,
                request.query_params.get("node"),
                integer(request, "frame", 0),
                integer(request, "x"),
                integer(request, "y"),
            )
        except Exception as exc:
            return fail(exc)
        return JSONResponse(data)

    async def sheet(request: Request) -> Response:
        try:
            count = integer(request, "count", 12)
            if not 2 <= count <= 400:
                raise ValueError("count must be within 2-400")
            thumb = integer(request, "thumb", 320)
            if not 16 <= thumb <= 4096:
                raise ValueError("thumb must be within 16-4096")
            columns = integer(request, "columns", 0) or None
            if columns is not None and not 1 <= columns <= 50:
                raise ValueError("columns must be within 1-50")
            data = await run_in_threadpool(
                studio.sheet,
                request.query_params.get("node"),
                count,
                integer(request, "start", 0),
                integer(request, "stop", 1 << 62),
                columns,
                thumb,
            )
        except Exception as exc:
            return fail(exc)
        return Response(data, media_type="image/png", headers={"cache-control": "no-store"})

    async def events(request: Request) -> Response:
        bus = studio.bus
        q = bus.subscribe()

        async def stream():
            try:
                yield sse("hello", f'{{"version": {studio.version}}}')
                while not bus.closed:
                    try:
                        kind, data = await asyncio.wait_for(q.get(), 10)
                    except asyncio.TimeoutError:
                        yield b": ping\n\n"
                        continue
                    if kind == "bye":
                        return
                    yield sse(kind, data)
            finally:
                bus.unsubscribe(q)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"}
        )

    async def render(request: Request) -> Response:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, 400)
        start, stop = body.get("start"), body.get("stop")
        for name, v in (("start", start), ("stop", stop)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                return JSONResponse({"error": f"'{name}' must be a frame number"}, 400)
        try:
            job = await run_in_threadpool(renders.start, start, stop)
        except Busy as exc:
            return JSONResponse({"error": str(exc)}, 409)
        except Exception as exc:
            return fail(exc)
        return JSONResponse(job.as_dict(studio.folder), 202)

    async def cancel(request: Request) -> Response:
        return JSONResponse({"cancelled": renders.cancel()})

    async def reload(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(studio.reload))

    async def files(request: Request) -> Response:
        try:
            path = served_path(studio.folder, request.path_params["path"], _outputs(studio, renders))
        except Refused as exc:
            return Response(f"not served: {exc}\n", 404, media_type="text/plain")
        return FileResponse(path, headers={"cache-control": "no-store"})

    async def output(request: Request) -> Response:
        job = renders.jobs.get(int(request.path_params["job"]))
        n = int(request.path_params["n"])
        if job is None or not 0 <= n < len(job.outputs) or not job.outputs[n].is_file():
            return Response("not found\n", 404, media_type="text/plain")
        return FileResponse(job.outputs[n], headers={"cache-control": "no-store"})

    @asynccontextmanager
    async def lifespan(app):
        studio.bus.attach(asyncio.get_running_loop())
        yield
        studio.bus.close()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/static/{name}", static),
            Route("/api/state", state),
            Route("/api/options", options),
            Route("/api/frame", frame),
            Route("/api/pixel", pixel),
            Route("/api/audio", audio),
            Route("/api/sheet", sheet),
            Route("/api/events", events),
            Route("/api/render", render, methods=["POST"]),
            Route("/api/render/cancel", cancel, methods=["POST"]),
            Route("/api/reload", reload, methods=["POST"]),
            Route("/files/{path:path}", files),
            Route("/outputs/{job:int}/{n:int}", output),
        ],
        lifespan=lifespan,
    )
    return TokenGate(app, token)


def _outputs(studio: Any, renders: Renders) -> list:
    """Files the pipeline's encoders name, and those its renders wrote: servable wherever they are."""
    found = list(renders.outputs())
    graph = studio.graph
    if graph is not None:
        for enc in graph.encoders:
            try:
                found.extend(enc.output_paths()[:10000])
            except Exception:
                pass
    return found


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StudioServer:
    """A studio's app on a socket bound at once (port 0: any free port), run here or in a thread."""

    def __init__(self, studio: Any, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        import uvicorn

        self.studio = studio
        self.token = token or secrets.token_urlsafe(24)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise VfxError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.sock.listen(64)
        self.host, self.port = host, self.sock.getsockname()[1]
        if studio.jobs is None:
            Renders(studio)
        self.app = create_app(studio, self.token)
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, token included."""
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}/?token={self.token}"

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]

    def run(self) -> None:
        """Serve until Ctrl-C (or ``stop``)."""
        self.server.run(sockets=[self.sock])

    def start(self) -> "StudioServer":
        """Serve from a thread; returns once the server answers."""
        self._thread = threading.Thread(target=self.run, name="vfx-studio-server", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                break
            if not self._thread.is_alive():
                raise VfxError("the studio server did not start")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self.studio.bus.close()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sock.close()
