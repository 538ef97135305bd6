"""The portal's static assets (stylesheets, scripts, the icon), read once at start-up and answered from memory.

A handful of small files that only change with a release: reading them once saves a file open, a stat and the
thread hops of a streamed file on every request. The route needs no session, no user and no CSRF cookie; the
security headers are still added to its answers (`web.app.add_security_headers`).
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, head
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from web.security import PUBLIC, STATIC

# Browsers may keep an asset for an hour, then ask again with its ETag (answered 304 when unchanged).
ASSET_CACHE_CONTROL = "public, max-age=3600"


class StaticAssets:
    """The files of `directories` (the first one wins for a name found in several), by their path."""

    def __init__(self, directories: Iterable[Path]) -> None:
        self._files: dict[str, tuple[bytes, str, str]] = {}
        for directory in directories:
            for path in sorted(directory.rglob("*")):
                name = "/" + path.relative_to(directory).as_posix()
                if path.is_file() and name not in self._files:
                    data = path.read_bytes()
                    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    if media_type in ("application/javascript", "image/svg+xml"):
                        media_type += "; charset=utf-8"  # Litestar adds it to text/* itself
                    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
                    self._files[name] = (data, media_type, etag)

    def headers_of(self, file_path: str) -> dict[str, str]:
        """What a HEAD request for the file is told (404 for no such file)."""
        found = self._files.get(file_path if file_path.startswith("/") else "/" + file_path)
        if found is None:
            raise NotFoundException()
        _data, media_type, etag = found
        charset = "; charset=utf-8" if media_type.startswith("text/") else ""
        return {"ETag": etag, "Cache-Control": ASSET_CACHE_CONTROL, "Content-Type": media_type + charset}

    def answer(self, file_path: str, if_none_match: str | None) -> Response[bytes]:
        found = self._files.get(file_path if file_path.startswith("/") else "/" + file_path)
        if found is None:
            raise NotFoundException()
        data, media_type, etag = found
        headers = {"ETag": etag, "Cache-Control": ASSET_CACHE_CONTROL}
        if if_none_match is not None and etag in if_none_match:
            return Response(content=b"", status_code=304, headers=headers)
        return Response(content=data, media_type=media_type, headers=headers)


def static_routes(directories: Iterable[Path]) -> list[HTTPRouteHandler]:
    """`GET` and `HEAD /static/{file_path}` (named `static`, for `url_for`) over the files of `directories`."""
    assets = StaticAssets(directories)

    @get(
        "/static/{file_path:path}",
        name="static",
        opt={PUBLIC: True, STATIC: True},
        skip_session=True,
        exclude_from_csrf=True,
        sync_to_thread=False,
        include_in_schema=False,
    )
    def static_file(request: Request[Any, Any, Any], file_path: FromPath[str]) -> Response[bytes]:
        return assets.answer(file_path, request.headers.get("if-none-match"))

    @head(
        "/static/{file_path:path}",
        name="static_head",
        opt={PUBLIC: True, STATIC: True},
        skip_session=True,
        exclude_from_csrf=True,
        sync_to_thread=False,
        include_in_schema=False,
    )
    def static_file_head(file_path: FromPath[str]) -> Response[None]:
        return Response(content=None, headers=assets.headers_of(file_path))

    return [static_file, static_file_head]
