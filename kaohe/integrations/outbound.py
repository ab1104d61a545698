"""Requests to an address an HR admin typed in (a pull connector's URL).

On premises the sources are internal systems, so private addresses are allowed. Never
reached: link-local addresses (169.254.0.0/16, fe80::/10), where the cloud metadata services
answer, and the metadata addresses outside them (Alibaba Cloud's 100.100.100.200, AWS's
fd00:ec2::254), in their IPv4-mapped, NAT64 and 6to4 forms too. When the operator sets
KAOHE_PULL_ALLOWED_HOSTS (host names or CIDRs), only what it names is reached.

The check is made on the address actually connected to, after the name is resolved, for the
first request and for every redirect, so a name that resolves elsewhere the second time
(DNS rebinding) gains nothing. Pulls connect directly: proxy settings in the environment are
not used (a proxy would resolve the name where kaohe cannot check it).

Redirects are followed (at most 3) to http and https addresses, never from https to http.
The configured headers (an access token) go only to the origin (scheme, host and port) of
the configured URL: a redirect elsewhere drops them, where CPython's handler copies them.
"""

import functools
import http.client
import ipaddress
import socket
import ssl
import urllib.parse
import urllib.request

from django.conf import settings
from django.utils.translation import gettext as _

NEVER = tuple(
    ipaddress.ip_network(net)
    for net in ("169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128",
                "64:ff9b::a9fe:0/112", "2002:a9fe::/32")  # 169.254/16 through NAT64, 6to4
)  # fmt: skip
MAX_REDIRECTS = 3
# Sent on to wherever a redirect leads (any client sends them); other headers stay with
# their origin. Spelled as urllib.request.Request stores names.
PUBLIC_HEADERS = frozenset({"Accept", "User-agent"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(OSError):
    """The address may not be reached; the message says why, for the request log."""


# --- which addresses ------------------------------------------------------------------


@functools.cache
def _allowed(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple]:
    names, networks = set(), []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return frozenset(names), tuple(networks)


def allowed_hosts() -> tuple[frozenset[str], tuple]:
    """The names and networks of KAOHE_PULL_ALLOWED_HOSTS; both empty: no limit."""
    return _allowed(tuple(getattr(settings, "KAOHE_PULL_ALLOWED_HOSTS", ())))


def _ip(address: str) -> IPAddress:
    ip = ipaddress.ip_address(address.partition("%")[0])  # fe80::1%eth0
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal(host: str, address: str) -> str:
    """Why `host`, resolved to `address`, may not be reached; empty if it may."""
    ip = _ip(address)
    if any(ip in network for network in NEVER):
        message = _("%(address)s is a link-local or cloud metadata address; pulls never go there.")
        return message % {"address": ip}
    names, networks = allowed_hosts()
    if not (names or networks):
        return ""
    if host.lower().rstrip(".") in names or any(ip in network for network in networks):
        return ""
    message = _("%(host)s (%(address)s) is not in KAOHE_PULL_ALLOWED_HOSTS.")
    return message % {"host": host, "address": ip}


def refusal_for_host(host: str) -> str:
    """What can be told without resolving `host` (when a URL is saved); the run checks the
    address it resolves to."""
    try:
        return refusal(host, host)
    except ValueError:  # a name, not an address
        pass
    names, networks = allowed_hosts()
    if names and not networks and host.lower().rstrip(".") not in names:
        message = _("%(host)s is not in KAOHE_PULL_ALLOWED_HOSTS.")
        return message % {"host": host}
    return ""


def _checked_connection(address, timeout, source_address=None, **_more) -> socket.socket:
    """socket.create_connection, to an address that passed `refusal` (every one the name
    resolves to must pass, so none is tried that would not)."""
    host, port = address
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [(str(sockaddr[0]), int(sockaddr[1])) for *_kind, sockaddr in found]
    for ip, _port in addresses:
        reason = refusal(host, ip)
        if reason:
            raise Refused(reason)
    error: OSError = OSError(f"{host} has no address")
    for ip_and_port in addresses:
        try:
            return socket.create_connection(ip_and_port, timeout, source_address)
        except OSError as failure:
            error = failure
    raise error


# --- the opener -----------------------------------------------------------------------


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_CheckedHTTPSConnection, req, context=ssl.create_default_context())


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").rstrip("."), parts.port or default


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme
        if scheme not in ("http", "https"):
            raise Refused(_("The source redirected to a non-HTTP address."))
        if urllib.parse.urlsplit(req.full_url).scheme == "https" and scheme == "http":
            raise Refused(_("The source redirected from https to http; kaohe does not follow."))
        following = super().redirect_request(req, fp, code, msg, headers, newurl)
        if following is not None and _origin(req.full_url) != _origin(newurl):
            public = following.headers.items()
            following.headers = {k: v for k, v in public if k in PUBLIC_HEADERS}
        return following


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()  # no ProxyHandler, no file: or ftp:
    handlers = (_CheckedHTTPHandler(), _CheckedHTTPSHandler(), _Redirects(),
                urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor(),
                urllib.request.UnknownHandler())  # fmt: skip
    for handler in handlers:
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


def open_url(url: str, headers: dict, timeout: float):
    """GETs `url` with `headers`; see the module docstring. Raises urllib's errors, and
    Refused (an OSError) for an address not to be reached."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise Refused(_("Only http:// and https:// addresses may be pulled."))
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (checked above)
    return _OPENER.open(request, timeout=timeout)
