"""Request helpers that know nothing of kaohe's apps."""

from contextvars import ContextVar

from django.conf import settings

# The request being answered, so evidence recorded deep inside an action can carry the
# caller's IP and user agent without every function passing the request along.
current_request: ContextVar = ContextVar("current_request", default=None)


class CurrentRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)


def client_ip(request) -> str | None:
    """The caller's IP, trusting only the last TRUSTED_PROXY_COUNT X-Forwarded-For hops."""
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR") or None


def safe_next(request, default: str) -> str:
    """The `next` parameter when it points into this site, else `default`."""
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default
