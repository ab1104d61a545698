from unittest import mock

import pytest
from django.db.utils import OperationalError

pytestmark = pytest.mark.django_db


def test_health_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_health_says_503_without_revealing_the_database_error(client):
    secret = "could not connect to server at 10.0.0.5 user=kaohe"
    with mock.patch("django.db.backends.utils.CursorWrapper.execute") as execute:
        execute.side_effect = OperationalError(secret)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert secret not in response.content.decode()


def test_static_files_are_served_by_the_app_itself(client, settings):
    settings.DEBUG = False
    response = client.get("/static/front/kaohe.css")
    assert response.status_code == 200


def test_a_login_behind_an_https_proxy_passes_the_csrf_check(client, cast, settings):
    from django.test import Client

    settings.CSRF_TRUSTED_ORIGINS = ["https://kaohe.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["kaohe.example.com"]
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/", HTTP_HOST="kaohe.example.com", HTTP_X_FORWARDED_PROTO="https")
    token = page.cookies["csrftoken"].value
    response = browser.post(
        "/login/",
        {"username": "amy", "password": "test-pass-123", "csrfmiddlewaretoken": token},
        HTTP_HOST="kaohe.example.com",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_ORIGIN="https://kaohe.example.com",
        HTTP_REFERER="https://kaohe.example.com/login/",
    )
    assert response.status_code == 302


def test_the_site_url_is_a_trusted_origin_and_proxies_turn_on_https_detection(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "KAOHE_DATA_DIR": str(tmp_path),
        "KAOHE_SITE_URL": "https://kaohe.example.com",
        "KAOHE_TRUSTED_PROXY_COUNT": "1",
        "DJANGO_SETTINGS_MODULE": "kaohe.settings",
    }
    code = (
        "from django.conf import settings as s;"
        "print(s.CSRF_TRUSTED_ORIGINS, s.SECURE_PROXY_SSL_HEADER)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "https://kaohe.example.com" in out and "HTTP_X_FORWARDED_PROTO" in out
