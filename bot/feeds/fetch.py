"""Safe HTTP fetching of feeds and pages: conditional GET, size and time caps, SSRF guard.

``Fetcher.fetch`` never raises for network or HTTP trouble; every failure comes back as a
``FetchResult`` with status ERROR and a short human-readable ``error``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import anyio
import httpcore
import httpx

from bot.models import FetchResult, FetchStatus

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# IPv6 prefixes that embed an IPv4 address which a gateway will actually reach.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    """Limits applied to every fetch."""

    timeout_s: float = 20.0
    connect_timeout_s: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot/newsbot)"
    allow_private: bool = False


class FetchError(Exception):
    """A fetch failed for a reason we can state in a few words (internal)."""


class RefusedAddressError(FetchError):
    """The host points at an address we must not connect to (SSRF guard)."""


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address that is not cloud metadata."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public_address(mapped)
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _METADATA_ADDRESSES:
        return False
    return bool(
        ip.is_global
        and not (
            ip.is_multicast
            or ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_unspecified
        )
    )


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` to its addresses (an IP literal resolves to itself)."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _checked_addresses(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    if not addresses:
        raise FetchError(f"cannot resolve {host}")
    for ip in addresses:
        # One private answer is enough to refuse: a host that mixes them is a rebinding trick.
        if not is_public_address(ip):
            raise RefusedAddressError(f"refused private address {ip}")
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to exactly the checked IP, so DNS rebinding cannot slip in."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first checked address of ``host`` that answers."""
        addresses = await _checked_addresses(host, port, self._resolver)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never a feed's address."""
        raise RefusedAddressError("refused unix socket")

    async def sleep(self, seconds: float) -> None:
        """Delegate to anyio."""
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool swapped for one using the guarded backend."""

    def __init__(self, resolver: Resolver) -> None:
        super().__init__(trust_env=False)
        # httpx does not take a network backend, so we build the pool it would have built
        # (same defaults) around ours; request/response mapping stays httpx's own.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(resolver),
        )


class Fetcher:
    """Fetches feeds and pages under a ``FetchPolicy``; one instance per process is enough."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._policy = policy
        self._resolver: Resolver = resolver or resolve_host
        timeout = httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s)
        common = {"timeout": timeout, "follow_redirects": False, "trust_env": False}
        if transport is not None:
            # An injected transport decides where it connects; hops are still checked up front.
            self._open = httpx.AsyncClient(transport=transport, **common)  # type: ignore[arg-type]
            self._guarded = self._open
        else:
            self._open = httpx.AsyncClient(**common)  # type: ignore[arg-type]
            self._guarded = httpx.AsyncClient(
                transport=_GuardedTransport(self._resolver),
                **common,  # type: ignore[arg-type]
            )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._open.aclose()
        if self._guarded is not self._open:
            await self._guarded.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = False,
        accept: str = FEED_ACCEPT,
    ) -> FetchResult:
        """GET ``url`` (conditionally) and return what happened; never raises for I/O trouble."""
        guard = not (trusted or self._policy.allow_private)
        result: FetchResult
        try:
            with anyio.fail_after(self._policy.timeout_s):
                result = await self._follow(url, etag, last_modified, accept, guard)
        except TimeoutError:
            result = _error(url, f"timeout after {self._policy.timeout_s:g}s")
        except FetchError as exc:
            result = _error(url, str(exc))
        except httpx.HTTPError as exc:
            result = _error(url, _describe_http_error(exc, self._policy))
        except zlib.error:
            result = _error(url, "corrupt compressed body")
        except (OSError, ValueError, UnicodeError) as exc:
            result = _error(url, f"network error: {type(exc).__name__}")
        logger.debug(
            "fetch done url=%s status=%s http_status=%s error=%s",
            url,
            result.status.value,
            result.http_status,
            result.error,
        )
        return result

    async def _follow(
        self, url: str, etag: str | None, last_modified: str | None, accept: str, guard: bool
    ) -> FetchResult:
        client = self._guarded if guard else self._open
        headers = {
            "User-Agent": self._policy.user_agent,
            "Accept": accept,
            # Only encodings we decode ourselves, under the size cap.
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _hop in range(self._policy.max_redirects + 1):
            await self._check_target(current, guard)
            request = client.build_request("GET", current, headers=headers)
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_CODES:
                    if not location:
                        raise FetchError(f"HTTP {response.status_code} without Location")
                    current = urljoin(current, location.strip())
                    continue
                return await self._finish(url, current, response)
            finally:
                await response.aclose()
        raise FetchError("too many redirects")

    async def _check_target(self, url: str, guard: bool) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchError("invalid URL") from exc
        if parts.scheme not in ("http", "https"):
            raise FetchError("not http(s)")
        host = parts.hostname
        if not host:
            raise FetchError("URL without host")
        if guard:
            # Checked here too (not only when connecting) so that every redirect hop gets a
            # clear refusal even when a pooled connection would be reused.
            await _checked_addresses(
                host, port or (443 if parts.scheme == "https" else 80), self._resolver
            )

    async def _finish(self, url: str, final_url: str, response: httpx.Response) -> FetchResult:
        status = response.status_code
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if status == 304:
            return FetchResult(
                status=FetchStatus.NOT_MODIFIED,
                url=url,
                final_url=final_url,
                http_status=status,
                etag=etag,
                last_modified=last_modified,
            )
        if not 200 <= status < 300:
            return FetchResult(
                status=FetchStatus.ERROR,
                url=url,
                final_url=final_url,
                http_status=status,
                error=f"HTTP {status}",
                retry_after=_retry_after(response.headers.get("retry-after"))
                if status in (429, 503)
                else None,
                gone=status == 410,
            )
        body = await _read_capped(response, self._policy.max_bytes)
        return FetchResult(
            status=FetchStatus.OK,
            url=url,
            final_url=final_url,
            http_status=status,
            body=body,
            content_type=response.headers.get("content-type"),
            etag=etag,
            last_modified=last_modified,
        )


def _error(url: str, message: str) -> FetchResult:
    return FetchResult(status=FetchStatus.ERROR, url=url, error=message)


def _too_large(limit: int) -> FetchError:
    return FetchError(f"body larger than {limit / (1024 * 1024):g} MB")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """Read the body, decoding gzip/deflate ourselves so decoded bytes count against the cap."""
    declared = response.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    encodings = [
        e.strip().lower()
        for e in response.headers.get("content-encoding", "").split(",")
        if e.strip() and e.strip().lower() != "identity"
    ]
    if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
        raise FetchError(f"unsupported content encoding {','.join(encodings)}")
    chunks = _decoded(response.aiter_raw(_READ_CHUNK), encodings[0] if encodings else None, limit)
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) > limit:
            raise _too_large(limit)
    return bytes(out)


async def _decoded(
    raw: AsyncIterator[bytes], encoding: str | None, limit: int
) -> AsyncIterator[bytes]:
    """Yield decoded chunks; never inflate more than ``limit + 1`` bytes per step."""
    decoder: zlib._Decompress | None = None
    produced = False
    async for chunk in raw:
        if encoding is None:
            yield chunk
            continue
        if decoder is None:
            decoder = zlib.decompressobj(_wbits(encoding, chunk))
        data = chunk
        while data and not decoder.eof:
            out = decoder.decompress(data, limit + 1)
            data = decoder.unconsumed_tail
            if out:
                produced = True
                yield out
    if decoder is not None and not produced and not decoder.eof:
        # A truncated stream that still gave text is kept (the parser may recover entries);
        # one that gave nothing at all is simply not compressed data.
        raise zlib.error("no data in compressed body")


def _wbits(encoding: str, first_chunk: bytes) -> int:
    """zlib window bits for the body: gzip (auto-detected header), zlib, or raw deflate."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.MAX_WBITS | 32
    # "deflate" should be zlib-wrapped, but some servers send raw deflate.
    head = first_chunk[:2]
    is_zlib = len(head) == 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
    return zlib.MAX_WBITS if is_zlib else -zlib.MAX_WBITS


def _retry_after(value: str | None) -> timedelta | None:
    """Parse Retry-After as seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=min(int(value), 7 * 24 * 3600))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def _describe_http_error(exc: httpx.HTTPError, policy: FetchPolicy) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {policy.connect_timeout_s:g}s"
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout after {policy.timeout_s:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        closed = "peer closed" in str(exc) or "incomplete" in str(exc).lower()
        return "connection closed mid-body" if closed else "HTTP protocol error"
    if isinstance(exc, httpx.ReadError):
        return "connection reset"
    if isinstance(exc, httpx.DecodingError):
        return "undecodable body"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "not http(s)"
    return f"network error: {type(exc).__name__}"
