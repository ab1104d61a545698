"""Assembles the apps' routers into /api/v1/."""

from ninja import NinjaAPI

api = NinjaAPI(title="kaohe API", version="1", urls_namespace="api")
