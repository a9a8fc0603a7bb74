"""Fetching over real loopback sockets: conditional GET, faults, caps and the SSRF guard."""

from __future__ import annotations

import gzip
import ipaddress
import zlib
from datetime import timedelta

import httpx
import pytest

from bot.feeds.fetch import Fetcher, FetchPolicy, IPAddress, is_public_address
from bot.models import FetchStatus
from tests.fakes.feed_server import FeedServer, feed_server

__all__ = ["feed_server"]

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback News</title>
<item><title>Hello</title><link>http://example.com/a</link><guid>a</guid></item>
</channel></rss>"""

OPEN = FetchPolicy(allow_private=True, timeout_s=5.0, connect_timeout_s=2.0)


async def test_ok_fetch_returns_body_validators_and_our_user_agent(
    feed_server: FeedServer,
) -> None:
    feed_server.set_feed(
        "/news.xml", RSS, etag='"v1"', last_modified="Mon, 02 Jan 2026 10:00:00 GMT"
    )
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/news.xml"))
    assert result.status is FetchStatus.OK
    assert result.body == RSS
    assert result.http_status == 200
    assert result.content_type == "application/rss+xml"
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 02 Jan 2026 10:00:00 GMT"
    sent = feed_server.requests[-1].headers
    assert sent["user-agent"] == OPEN.user_agent
    assert "application/rss+xml" in sent["accept"]


async def test_conditional_get_round_trip_gets_304(feed_server: FeedServer) -> None:
    feed_server.set_feed(
        "/news.xml", RSS, etag='"v1"', last_modified="Mon, 02 Jan 2026 10:00:00 GMT"
    )
    async with Fetcher(OPEN) as fetcher:
        first = await fetcher.fetch(feed_server.url("/news.xml"))
        second = await fetcher.fetch(
            feed_server.url("/news.xml"), etag=first.etag, last_modified=first.last_modified
        )
    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.body is None
    assert second.etag == '"v1"'
    sent = feed_server.requests[-1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Mon, 02 Jan 2026 10:00:00 GMT"


async def test_last_modified_alone_gets_304(feed_server: FeedServer) -> None:
    feed_server.set_feed("/news.xml", RSS, last_modified="Mon, 02 Jan 2026 10:00:00 GMT")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(
            feed_server.url("/news.xml"), last_modified="Mon, 02 Jan 2026 10:00:00 GMT"
        )
    assert result.status is FetchStatus.NOT_MODIFIED


async def test_changed_feed_is_refetched_despite_old_etag(feed_server: FeedServer) -> None:
    feed_server.set_feed("/news.xml", RSS, etag='"v2"')
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/news.xml"), etag='"v1"')
    assert result.status is FetchStatus.OK
    assert result.etag == '"v2"'


@pytest.mark.parametrize(
    ("code", "error"), [(404, "HTTP 404"), (500, "HTTP 500"), (403, "HTTP 403")]
)
async def test_error_statuses(feed_server: FeedServer, code: int, error: str) -> None:
    feed_server.set_fault("/x", "status", code=code)
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/x"))
    assert result.status is FetchStatus.ERROR
    assert result.error == error
    assert result.http_status == code
    assert not result.gone


async def test_410_is_gone(feed_server: FeedServer) -> None:
    feed_server.set_fault("/old", "status", code=410)
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/old"))
    assert result.status is FetchStatus.ERROR
    assert result.gone is True


async def test_429_retry_after_seconds(feed_server: FeedServer) -> None:
    feed_server.set_fault("/busy", "retry_after", code=429, value="120")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/busy"))
    assert result.error == "HTTP 429"
    assert result.retry_after == timedelta(seconds=120)


async def test_503_retry_after_http_date(feed_server: FeedServer) -> None:
    feed_server.set_fault("/down", "retry_after", code=503, value="Wed, 01 Jan 2098 00:00:00 GMT")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/down"))
    assert result.error == "HTTP 503"
    assert result.retry_after is not None
    assert result.retry_after > timedelta(days=365)


async def test_redirect_is_followed_and_final_url_reported(feed_server: FeedServer) -> None:
    feed_server.set_feed("/new.xml", RSS)
    feed_server.set_fault("/old.xml", "redirect", to="/new.xml", code=301)
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/old.xml"))
    assert result.status is FetchStatus.OK
    assert result.final_url == feed_server.url("/new.xml")
    assert result.url == feed_server.url("/old.xml")


async def test_redirect_loop_is_an_error(feed_server: FeedServer) -> None:
    feed_server.set_fault("/loop", "redirect", to="/loop")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/loop"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "too many redirects"
    assert len(feed_server.requests) == OPEN.max_redirects + 1


async def test_slow_drip_hits_total_deadline(feed_server: FeedServer) -> None:
    # Each byte arrives well within the read timeout; only the total deadline can stop it.
    feed_server.set_fault("/slow", "slow", chunk=1, interval=0.1, total=10_000)
    policy = FetchPolicy(allow_private=True, timeout_s=0.8)
    async with Fetcher(policy) as fetcher:
        result = await fetcher.fetch(feed_server.url("/slow"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "timeout after 0.8s"


async def test_huge_streamed_body_is_cut_off(feed_server: FeedServer) -> None:
    feed_server.set_fault("/huge", "huge", size=50 * 1024 * 1024)
    policy = FetchPolicy(allow_private=True, max_bytes=1024 * 1024)
    async with Fetcher(policy) as fetcher:
        result = await fetcher.fetch(feed_server.url("/huge"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "body larger than 1 MB"
    assert result.body is None


async def test_declared_huge_length_is_refused_early(feed_server: FeedServer) -> None:
    feed_server.set_fault("/huge", "huge", size=50 * 1024 * 1024, declare_length=True)
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/huge"))
    assert result.error == "body larger than 10 MB"


async def test_gzip_bomb_is_capped_on_decoded_bytes(feed_server: FeedServer) -> None:
    feed_server.set_fault("/bomb", "gzip_bomb", size=20 * 1024 * 1024)
    policy = FetchPolicy(allow_private=True, max_bytes=2 * 1024 * 1024)
    async with Fetcher(policy) as fetcher:
        result = await fetcher.fetch(feed_server.url("/bomb"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "body larger than 2 MB"


async def test_small_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    feed_server.set_feed("/gz.xml", gzip.compress(RSS), headers={"Content-Encoding": "gzip"})
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/gz.xml"))
    assert result.body == RSS


async def test_raw_deflate_body_is_decoded(feed_server: FeedServer) -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(RSS) + compressor.flush()
    feed_server.set_feed("/d.xml", raw, headers={"Content-Encoding": "deflate"})
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/d.xml"))
    assert result.body == RSS


async def test_corrupt_gzip_is_an_error(feed_server: FeedServer) -> None:
    feed_server.set_feed(
        "/bad.xml",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 50,
        headers={"Content-Encoding": "gzip"},
    )
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/bad.xml"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "corrupt compressed body"


async def test_connection_closed_mid_body(feed_server: FeedServer) -> None:
    feed_server.set_fault("/cut", "close_mid_body", declared=5000)
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/cut"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "connection closed mid-body"


async def test_empty_body_is_ok_with_empty_bytes(feed_server: FeedServer) -> None:
    feed_server.set_fault("/empty", "empty")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/empty"))
    assert result.status is FetchStatus.OK
    assert result.body == b""


async def test_wrong_charset_header_is_passed_on(feed_server: FeedServer) -> None:
    feed_server.set_fault("/cs", "wrong_charset", body=RSS, charset="koi8-r")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(feed_server.url("/cs"))
    assert result.content_type == "application/rss+xml; charset=koi8-r"


async def test_connection_refused_is_an_error() -> None:
    with FeedServer() as server:
        url = server.url("/gone")
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(url)
    assert result.status is FetchStatus.ERROR
    assert result.error == "connection failed"


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "file:///etc/passwd", "gopher://x/"])
async def test_non_http_schemes_are_refused(url: str) -> None:
    async with Fetcher(OPEN) as fetcher:
        result = await fetcher.fetch(url)
    assert result.error == "not http(s)"


# -- SSRF --------------------------------------------------------------------------------------


async def test_loopback_is_refused_when_private_not_allowed(feed_server: FeedServer) -> None:
    feed_server.set_feed("/news.xml", RSS)
    async with Fetcher(FetchPolicy()) as fetcher:
        result = await fetcher.fetch(feed_server.url("/news.xml"))
    assert result.status is FetchStatus.ERROR
    assert result.error == "refused private address 127.0.0.1"
    assert feed_server.requests == []


async def test_trusted_fetch_may_reach_loopback(feed_server: FeedServer) -> None:
    feed_server.set_feed("/news.xml", RSS)
    async with Fetcher(FetchPolicy()) as fetcher:
        result = await fetcher.fetch(feed_server.url("/news.xml"), trusted=True)
    assert result.status is FetchStatus.OK


async def test_localhost_name_is_refused(feed_server: FeedServer) -> None:
    feed_server.set_feed("/news.xml", RSS)
    async with Fetcher(FetchPolicy()) as fetcher:
        result = await fetcher.fetch(f"http://localhost:{feed_server.port}/news.xml")
    assert result.status is FetchStatus.ERROR
    assert result.error is not None
    assert result.error.startswith("refused private address")


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/feed",
        "http://192.168.1.1:8080/",
    ],
)
async def test_redirect_to_private_address_is_refused(target: str) -> None:
    # A public first hop (an IP literal, so no DNS) that redirects inward.
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "93.184.216.34":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, content=RSS)

    async with Fetcher(FetchPolicy(), transport=httpx.MockTransport(answer)) as fetcher:
        result = await fetcher.fetch("http://93.184.216.34/feed")
    assert result.status is FetchStatus.ERROR
    ip = target.split("/")[2].rsplit(":", 1)[0].strip("[]") if "[" not in target else "::1"
    assert result.error == f"refused private address {ipaddress.ip_address(ip)}"


async def test_dns_rebinding_is_caught_at_connect_time(feed_server: FeedServer) -> None:
    # The first lookup (the up-front check) says public, the next (at connect) says loopback.
    answers: list[IPAddress] = [
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("127.0.0.1"),
    ]

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        return [answers.pop(0) if len(answers) > 1 else answers[0]]

    feed_server.set_feed("/news.xml", RSS)
    async with Fetcher(FetchPolicy(), resolver=rebinding) as fetcher:
        result = await fetcher.fetch(f"http://rebind.test:{feed_server.port}/news.xml")
    assert result.error == "refused private address 127.0.0.1"
    assert feed_server.requests == []


async def test_unresolvable_host_is_an_error() -> None:
    async def nothing(host: str, port: int) -> list[IPAddress]:
        raise OSError("no such host")

    async with Fetcher(FetchPolicy(), resolver=nothing) as fetcher:
        result = await fetcher.fetch("http://nowhere.test/feed")
    assert result.error == "cannot resolve nowhere.test"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::a00:1", False),
        ("2002:0a00:0001::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
