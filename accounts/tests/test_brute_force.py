"""Password guessing (issue 13, finding 3): one counter of failed logins per account, shared by the token API,
the login page and the admin login, that no client-chosen header (X-Forwarded-For, Host, ...) can reset."""

import logging
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
LOGIN_URL = "/accounts/login/"
LOCKED = "Too many failed login attempts. Try again later."


def _spoofed(i: int) -> dict[str, Any]:
    """Headers an attacker rotates on every guess: a fresh forwarded client address and another allowed Host."""
    return {
        "HTTP_X_FORWARDED_FOR": f"203.0.113.{i}",
        "HTTP_X_REAL_IP": f"198.51.100.{i}",
        "HTTP_HOST": ["testserver", "localhost", "127.0.0.1"][i % 3],
    }


def _token_try(client, email: str, password: str, i: int = 0):
    return client.post(TOKEN_URL, {"email": email, "password": password}, format="json", **_spoofed(i))


def _page_try(client: Client, email: str, password: str, i: int = 0, url: str = LOGIN_URL):
    return client.post(url, {"login": email, "password": password}, **_spoofed(i))


def _after_the_window():
    """Travel just past LOGIN_FAILED_WINDOW_SECONDS (the default 5 minutes)."""
    return time_machine.travel(timezone.now() + timedelta(seconds=301), tick=False)


def test_rotating_forwarded_for_does_not_give_unlimited_guesses(alice, api_client_for):
    client = api_client_for(None)
    codes = [_token_try(client, alice.email, f"guess-{i}", i).status_code for i in range(12)]
    assert codes == [400] * 5 + [429] * 7


def test_token_api_lockout_answers_429_and_lifts_after_the_window(alice, api_client_for, caplog):
    client = api_client_for(None)
    for i in range(5):
        assert _token_try(client, alice.email.upper(), f"guess-{i}", i).status_code == 400
    with caplog.at_level(logging.INFO, logger="accounts.adapters"):
        refused = _token_try(client, alice.email, "guess-6", 6)
    assert refused.status_code == 429
    assert refused.json() == {"detail": LOCKED, "code": "too_many_login_attempts"}
    assert int(refused["Retry-After"]) == 300
    assert "login refused" in caplog.text and "guess-" not in caplog.text  # logged, without the password
    assert _token_try(client, alice.email, PASSWORD, 7).status_code == 429  # even the right password, for now

    with _after_the_window():
        assert _token_try(client, alice.email, PASSWORD).status_code == 201


def test_login_page_lockout_shows_a_message_and_lifts_after_the_window(alice):
    client = Client()
    for i in range(5):
        page = _page_try(client, alice.email, f"guess-{i}", i)
        assert page.status_code == 200 and LOCKED not in page.content.decode()
    for i, password in enumerate(["guess-6", PASSWORD]):
        page = _page_try(client, alice.email, password, 6 + i)
        assert page.status_code == 200 and LOCKED in page.content.decode()
    assert "_auth_user_id" not in client.session

    with _after_the_window():
        assert _page_try(client, alice.email, PASSWORD).status_code == 302
        assert client.session["_auth_user_id"] == str(alice.pk)


def test_admin_login_goes_through_the_same_limit(db):
    staff = UserFactory.create(email="root@example.com", is_staff=True, is_superuser=True)
    client = Client()
    # The admin's own form is gone: posting the right password there signs nobody in.
    direct = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert direct.status_code == 302 and direct["Location"].startswith(LOGIN_URL)
    assert "_auth_user_id" not in client.session
    # Anonymous /admin/ -> /admin/login/ -> the login page, with the admin as the destination.
    response = client.get("/admin/", follow=True)
    login_url = response.redirect_chain[-1][0]
    assert login_url.startswith(LOGIN_URL) and "next=" in login_url
    for i in range(5):
        assert LOCKED not in _page_try(client, staff.email, f"guess-{i}", i, login_url).content.decode()
    assert LOCKED in _page_try(client, staff.email, PASSWORD, 6, login_url).content.decode()

    with _after_the_window():
        assert _page_try(client, staff.email, PASSWORD, 0, login_url)["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200


def test_one_counter_for_api_and_pages(alice, api_client_for):
    api = api_client_for(None)
    for i in range(3):
        assert _token_try(api, alice.email, f"guess-{i}", i).status_code == 400
    for i in range(3, 5):
        assert LOCKED not in _page_try(Client(), alice.email, f"guess-{i}", i).content.decode()
    assert _token_try(api, alice.email, "guess-6", 6).status_code == 429


def test_a_right_password_does_not_reset_the_count(alice, api_client_for):
    """Successful logins sprinkled between guesses must not buy the attacker more guesses."""
    client = api_client_for(None)
    for i in range(4):
        assert _token_try(client, alice.email, f"guess-{i}", i).status_code == 400
    assert _token_try(client, alice.email, PASSWORD).status_code == 201
    assert _token_try(client, alice.email, "guess-5", 5).status_code == 400
    assert _token_try(client, alice.email, "guess-6", 6).status_code == 429


def test_token_throttle_ignores_forwarded_for_without_trusted_proxies(db, monkeypatch, api_client_for):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token_create": "2/min"})  # read at import
    client = api_client_for(None)
    codes = [_token_try(client, f"nobody{i}@example.com", "x", i).status_code for i in range(3)]
    assert codes == [400, 400, 429]


def test_one_trusted_proxy_keys_on_the_address_it_appended(db, settings, monkeypatch, api_client_for):
    """Behind one proxy, the client address is the last X-Forwarded-For entry (what the proxy saw), for DRF's
    throttle and allauth's per-address limit alike; earlier, client-written entries are ignored."""
    from rest_framework.throttling import ScopedRateThrottle

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.ALLAUTH_TRUSTED_PROXY_COUNT == 0
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token_create": "2/min"})
    client = api_client_for(None)

    def attempt(i: int, forwarded: str) -> int:
        data = {"email": f"nobody{i}@example.com", "password": "x"}
        return client.post(TOKEN_URL, data, format="json", HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [attempt(i, f"10.0.0.{i}, 192.0.2.1") for i in range(3)] == [400, 400, 429]
    assert attempt(3, "192.0.2.2") == 400  # another client behind the same proxy has its own budget


def test_inactive_account_gets_no_token(alice, api_client_for):
    alice.is_active = False
    alice.save()
    response = _token_try(api_client_for(None), alice.email, PASSWORD)
    assert response.status_code == 403
    assert response.json() == {"detail": "This account is inactive.", "code": "permission_denied"}
