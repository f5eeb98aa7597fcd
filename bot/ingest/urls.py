"""Canonical article urls: one spelling per article, so that urls can be compared and stored.

Rules applied by :func:`canonical_url`:

* surrounding whitespace (including Unicode spaces such as U+00A0 and U+2028) is stripped;
* only ``http`` and ``https`` urls with a ``//`` authority and a non-empty host are accepted;
* the scheme and the host are lower-cased; a Unicode host stays Unicode (it is lower-cased, not
  converted to punycode, so ``bücher.de`` and ``xn--bcher-kva.de`` remain different urls);
  user info is kept as written; the default port (80 for http, 443 for https) is dropped and
  other ports are written without leading zeros;
* the fragment (``#...``) is dropped;
* query parameters in :data:`TRACKING_PARAMS` or starting with ``utm_`` (compared
  case-insensitively) are dropped, the others keep their order and spelling; empty parameters
  (``a=1&&b=2``) and an empty query (``...jpg?``) are dropped;
* trailing slashes are stripped from the path; an empty path becomes ``/`` (the root);
* in the path and query, characters outside the printable ASCII url set (spaces, non-ASCII,
  no-break spaces, U+2028, controls, ``"<>\\^`{|}``) are percent-encoded as UTF-8; existing
  ``%XX`` escapes are kept (hex digits upper-cased), a ``%`` that starts no escape becomes
  ``%25``. Dot segments are left as they are.
"""

from __future__ import annotations

import re

__all__ = ["TRACKING_PARAMS", "canonical_url"]

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "dclid",  # Google Display
        "gbraid",
        "wbraid",
        "msclkid",  # Microsoft Ads
        "mc_cid",  # Mailchimp
        "mc_eid",
        "igshid",  # Instagram
        "yclid",  # Yandex
        "_ga",  # Google Analytics linker
        "_gl",
        "_hsenc",  # HubSpot
        "_hsmi",
        "mkt_tok",  # Marketo
        "ocid",  # Microsoft/MSN campaign id
        "ref_src",  # Twitter
        "ref_url",
    }
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# Characters that may stay as they are in a path or a query (RFC 3986 unreserved, sub-delims,
# ":@/?", "[]" which real urls use unencoded, and "%" when it starts a well-formed escape).
_ALLOWED = r"A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]"
_NEEDS_WORK = re.compile(rf"[^{_ALLOWED}%]|%(?![0-9A-F]{{2}})")
_FIX = re.compile(rf"%[0-9A-Fa-f]{{2}}|[^{_ALLOWED}]")
_SPLIT = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(//)?([^/?#]*)([^?#]*)(?:\?([^#]*))?")
_PLAIN_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?")
_BAD_HOST = re.compile(r"[\x00-\x20\x7f<>\"{}|\\^`%/?#:\[\]@]|\s")
_IPV6_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]")


def _fix_char(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) == 3 and text[0] == "%":
        return text.upper()
    if text == "%":
        return "%25"
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8"))


def _encode(part: str) -> str:
    if _NEEDS_WORK.search(part) is None:
        return part
    try:
        return _FIX.sub(_fix_char, part)
    except UnicodeEncodeError:
        raise ValueError("invalid character (lone surrogate)") from None


def _strip_tracking(query: str) -> str:
    kept = []
    for param in query.split("&"):
        if not param:
            continue
        name = param.partition("=")[0].lower()
        if name in TRACKING_PARAMS or name.startswith("utm_"):
            continue
        kept.append(param)
    return "&".join(kept)


def _netloc(authority: str, scheme: str) -> str:
    """Validate and normalise an authority that is not a plain lower-case host name."""
    userinfo, at, hostport = authority.rpartition("@")
    host, port = hostport, ""
    if hostport.startswith("["):  # IPv6 literal
        close = hostport.find("]")
        host, after = hostport[: close + 1], hostport[close + 1 :]
        if close < 0 or _IPV6_HOST.fullmatch(host) is None or after[:1] not in ("", ":"):
            raise ValueError(f"invalid host {hostport!r}")
        port = after[1:]
    else:
        host, colon, port = hostport.rpartition(":")
        if not colon:
            host = port = hostport
            port = ""
        if not host:
            raise ValueError("missing host")
        if _BAD_HOST.search(host) is not None:
            raise ValueError(f"invalid host {host!r}")
        host = host.lower()
    if port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise ValueError(f"invalid port {port!r}")
        port = str(int(port))
        if port != _DEFAULT_PORTS[scheme]:
            return f"{userinfo}{at}{host}:{port}"
    return f"{userinfo}{at}{host}"


def canonical_url(raw: str) -> str:
    """Return the canonical spelling of an http(s) url; ``ValueError(reason)`` if it is invalid."""
    url = raw.strip()
    match = _SPLIT.match(url)
    if match is None:
        if not url:
            raise ValueError("empty url")
        raise ValueError(
            f"unsupported scheme: {url[:40]!r} does not start with http:// or https://"
        )
    scheme, slashes, authority, path, query = match.groups()
    if scheme not in _DEFAULT_PORTS:
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"unsupported scheme {scheme!r} (only http and https)")
    if slashes is None:
        raise ValueError("missing host (no '//' after the scheme)")
    if not authority:
        raise ValueError("missing host")
    if _PLAIN_HOST.fullmatch(authority) is None:
        authority = _netloc(authority, scheme)

    if path.endswith("/"):
        path = path.rstrip("/")
    path = _encode(path) if path else "/"
    if query:
        query = _strip_tracking(query)
        if query:
            return f"{scheme}://{authority}{path}?{_encode(query)}"
    return f"{scheme}://{authority}{path}"
