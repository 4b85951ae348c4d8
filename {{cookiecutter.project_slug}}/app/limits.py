"""Request bodies over ``MAX_BODY_BYTES`` get 413 before they are read whole."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DETAIL = "Request body too large"


class _TooLargeError(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, _DETAIL)


class BodySizeLimitMiddleware:
    """Answer 413 to a body over ``max_bytes``, declared or counted as it comes.

    A ``Content-Length`` over the limit is refused before anything is read; a
    chunked body is counted as it arrives and refused once it passes the
    limit. (Starlette's own limiter answers in plain text where the length is
    declared; this one answers JSON, like every other error.)
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await _too_large(scope, receive, send)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked:
            # The server delivers no more than the declared length (none: no
            # body), so there is nothing left to count.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised into whatever reads the body; FastAPI answers it
                    # as the HTTPException it is.
                    raise _TooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLargeError:
            if started:
                raise
            await _too_large(scope, receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": _DETAIL}, status_code=413)
    await response(scope, receive, send)
