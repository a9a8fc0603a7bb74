"""One canonical URL per story, so the same article reached by different links compares equal.

Base normalization (case, default port, percent-encoding, dot segments, IDNA) is url-normalize's;
on top of it we drop fragments and tracking parameters, sort the query, fold AMP and mobile
variants onto the canonical page and drop the trailing slash.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from url_normalize import url_normalize

# Query parameters that only say who sent the reader, never which page it is. Names are
# compared lowercased; prefixes end with "_" or ".".
TRACKING_PARAMS = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "gclsrc",
        "dclid",  # DoubleClick
        "gbraid",
        "wbraid",
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "twclid",  # X/Twitter
        "igshid",  # Instagram
        "igsh",
        "ocid",  # MSN / Microsoft Start
        "cmpid",  # campaign ids used by many publishers
        "cmp",
        "icid",
        "smid",  # share ids (e.g. "smid=tw-share")
        "xtor",  # AT Internet
        "ito",
        "spm",
        "mkt_tok",  # Marketo
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "_ga",
        "_gl",
        "_hsenc",  # HubSpot
        "_hsmi",
        "__twitter_impression",
        "s_cid",  # Adobe
        "wt.mc_id",  # Webtrends
        "rss",  # "?rss=1" style markers that feeds add to their own links
        "amp",  # "?amp" / "?amp=1": handled as the AMP variant of the page
    }
)
TRACKING_PREFIXES = ("utm_", "ns_", "at_", "mc_", "oly_", "vero_", "pk_", "mtm_", "hmb_")

# Host prefixes of AMP and mobile editions of the same site.
_VARIANT_HOST_PREFIXES = ("amp.", "m.", "mobile.")
# Google's AMP cache: https://www-example-com.cdn.ampproject.org/c/s/www.example.com/page
_HOSTNAME = re.compile(
    r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$"
)
_AMP_CACHE = re.compile(r"^/[cv]/(s/)?(?P<rest>[^/]+/.*)$")


def canonical_url(url: str, base: str | None = None) -> str | None:
    """The canonical form of ``url`` (resolved against ``base``), or None when unusable."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or any(ord(c) < 32 for c in url):
        return None
    try:
        if base:
            url = urljoin(base.strip(), url)
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        normalized = url_normalize(url)
        if not normalized:
            return None
        return _apply_rules(normalized)
    except (ValueError, UnicodeError):
        return None


def _apply_rules(url: str) -> str | None:
    parts = urlsplit(url)
    scheme, host, path = parts.scheme, parts.hostname or "", parts.path
    if not host:
        return None
    if host.endswith(".cdn.ampproject.org"):
        unwrapped = _unwrap_amp_cache(path, parts.query)
        if unwrapped is not None:
            return canonical_url(unwrapped)
    if "@" in parts.netloc:
        return None  # credentials in a story link are never what a reader should see
    query, amp_query = _clean_query(parts.query)
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    elif not _HOSTNAME.match(host):
        return None
    host = _canonical_host(host)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    path = _canonical_path(path, strip_amp=True) if amp_query or "amp" in path else path
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path or "/", query, ""))


def _canonical_host(host: str) -> str:
    """Fold amp./m./mobile. editions onto the main site (www. on a registrable domain)."""
    for prefix in _VARIANT_HOST_PREFIXES:
        if not host.startswith(prefix):
            continue
        rest = host[len(prefix) :]
        labels = rest.split(".")
        if len(labels) < 2:
            return host  # "m.example": stripping would leave a bare TLD
        # News sites serve their desktop edition on www.; a deeper host (m.news.example.com)
        # already names its own site.
        return "www." + rest if _is_registrable(labels) else rest
    return host


def _is_registrable(labels: list[str]) -> bool:
    """True for example.com and example.co.uk style names (a guess without the suffix list)."""
    if len(labels) == 2:
        return True
    return len(labels) == 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3


def _canonical_path(path: str, *, strip_amp: bool) -> str:
    segments = path.split("/")
    if strip_amp:
        segments = [s for s in segments if s.lower() != "amp"]
        if segments and segments[-1].lower().endswith(".amp"):
            segments[-1] = segments[-1][: -len(".amp")]
        # "/story.amp.html" is the AMP twin of "/story.html"
        if segments and segments[-1].lower().endswith(".amp.html"):
            segments[-1] = segments[-1][: -len(".amp.html")] + ".html"
    joined = "/".join(segments)
    return joined if joined.startswith("/") else "/" + joined


def _clean_query(query: str) -> tuple[str, bool]:
    """Drop tracking parameters and sort the rest; also say whether it asked for AMP."""
    if not query:
        return "", False
    kept: list[tuple[str, str]] = []
    amp = False
    for name, value in parse_qsl(query, keep_blank_values=True):
        lowered = name.lower()
        if lowered == "amp" or (lowered == "outputtype" and value.lower() == "amp"):
            amp = True
            continue
        if lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES):
            continue
        kept.append((name, value))
    kept.sort()
    return urlencode(kept, quote_via=quote, safe="/:@!$'()*,;~"), amp


def _unwrap_amp_cache(path: str, query: str) -> str | None:
    match = _AMP_CACHE.match(path)
    if match is None:
        return None
    scheme = "https" if match.group(1) else "http"
    target = f"{scheme}://{match.group('rest')}"
    return f"{target}?{query}" if query else target
