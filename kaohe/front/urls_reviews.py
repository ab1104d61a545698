"""Pages of the reviews area (namespace `front`, included by kaohe/front/urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
