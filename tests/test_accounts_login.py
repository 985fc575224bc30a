"""Login, second factor (enrolment, verification, backup codes), lockout, sessions, logout."""

import re
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.middleware import LAST_ACTIVITY_KEY
from accounts.models import AuditAction, AuditEntry
from accounts.testing import login_as, make_user

PASSWORD = "correct horse battery staple"
AUDIT_URL = "/accounts/audit/"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def current_code(device: TOTPDevice, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():06d}"


def password_login(client, username, password=PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def actions(username):
    return list(
        AuditEntry.objects.filter(username=username).order_by("id").values_list("action", flat=True)
    )


@pytest.mark.django_db
def test_full_login_with_totp_tolerates_one_step_of_drift(client):
    user = make_user("administrator", password=PASSWORD)
    response = password_login(client, user.username)
    assert response["Location"] == "/accounts/second-factor/"
    # Password alone does not open the pages.
    assert client.get(AUDIT_URL)["Location"].startswith("/accounts/second-factor/")
    device = TOTPDevice.objects.get(user=user)
    wrong = client.post("/accounts/second-factor/", {"code": "000000"})
    assert wrong.status_code == 200 and b"not valid" in wrong.content
    previous_step = current_code(device, -1)
    response = client.post("/accounts/second-factor/", {"code": previous_step, "next": AUDIT_URL})
    assert response["Location"] == AUDIT_URL
    assert client.get(AUDIT_URL).status_code == 200
    assert actions(user.username) == [
        AuditAction.LOGIN,
        AuditAction.SECOND_FACTOR_FAILED,
        AuditAction.SECOND_FACTOR_VERIFIED,
    ]


@pytest.mark.django_db
def test_code_two_steps_away_and_foreign_next_are_refused(client):
    user = make_user("administrator", password=PASSWORD)
    password_login(client, user.username)
    device = TOTPDevice.objects.get(user=user)
    response = client.post("/accounts/second-factor/", {"code": current_code(device, 3)})
    assert response.status_code == 200
    response = client.post(
        "/accounts/second-factor/", {"code": current_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_enrolment_shows_qr_and_key_then_backup_codes_once(client):
    user = User.objects.create_user("newcomer", password=PASSWORD)
    password_login(client, "newcomer")
    response = client.get("/accounts/second-factor/", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0].startswith("/accounts/second-factor/enrol/")
    assert "<svg" in page and "style=" not in page.split("<svg", 1)[1].split("</svg>")[0]
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert secret.replace(" ", "") in device.config_url
    response = client.post("/accounts/second-factor/enrol/", {"code": current_code(device)})
    assert response["Location"].startswith("/accounts/second-factor/backup-codes/")
    first = client.get(response["Location"]).content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", first)
    assert len(codes) == 10
    again = client.get("/accounts/second-factor/backup-codes/").content.decode()
    assert not any(code in again for code in codes)  # shown once
    assert AuditAction.SECOND_FACTOR_ENROLLED in actions("newcomer")

    # A backup code works once, in a new session.
    client.post("/accounts/logout/")
    password_login(client, "newcomer")
    assert client.post("/accounts/second-factor/", {"code": codes[0]})["Location"] == "/"
    client.post("/accounts/logout/")
    password_login(client, "newcomer")
    assert client.post("/accounts/second-factor/", {"code": codes[0]}).status_code == 200


@pytest.mark.django_db
def test_verification_lasts_only_for_that_session(client):
    from django.test import Client

    user = make_user("administrator", password=PASSWORD)
    login_as(client, user=user)
    other = Client()
    password_login(other, user.username)
    assert other.get(AUDIT_URL)["Location"].startswith("/accounts/second-factor/")
    assert client.get(AUDIT_URL).status_code == 200


@pytest.mark.django_db
def test_ten_wrong_passwords_lock_the_user_and_each_is_audited(client, settings):
    make_user("support", username="victim", password=PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        password_login(client, "victim", "wrong")
    failed = AuditEntry.objects.filter(username="victim", action=AuditAction.LOGIN_FAILED)
    assert failed.count() == 10 and all(e.address == "127.0.0.1" for e in failed)
    assert AuditEntry.objects.filter(username="victim", action=AuditAction.LOCKOUT).exists()
    # The right password is now refused too, also from another address.
    response = password_login(client, "victim", REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 429 and b"Too many failed attempts" in response.content
    assert b"for 15 minutes after repeated" in response.content  # the configured time
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_ten_failures_lock_the_address_for_other_users(client, settings):
    make_user("support", username="someone", password=PASSWORD)
    for number in range(settings.AXES_FAILURE_LIMIT):
        password_login(client, f"guess{number}", "wrong", REMOTE_ADDR="10.0.0.7")
    assert password_login(client, "someone", REMOTE_ADDR="10.0.0.7").status_code == 429
    assert password_login(client, "someone", REMOTE_ADDR="10.0.0.8").status_code == 302


@pytest.mark.django_db
def test_ten_wrong_codes_lock_out_and_end_the_session(client, settings):
    user = make_user("support", username="phone-thief", password=PASSWORD)
    password_login(client, user.username)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/accounts/second-factor/", {"code": "123456"}).status_code == 200
    client.cookies["django_language"] = "ru"
    response = client.post("/accounts/second-factor/", {"code": "123456"})
    assert response.status_code == 429
    assert "заблокирован на 15 минут." in response.content.decode()
    assert "_auth_user_id" not in client.session
    failed = AuditEntry.objects.filter(
        username="phone-thief", action=AuditAction.SECOND_FACTOR_FAILED
    )
    assert failed.count() == 10
    assert AuditEntry.objects.filter(username="phone-thief", action=AuditAction.LOCKOUT).exists()
    assert AccessAttempt.objects.filter(username="phone-thief").exists()
    # Locked: even the right password and code do not get in now.
    assert password_login(client, user.username).status_code == 429


@pytest.mark.django_db
def test_session_ends_after_inactivity(client, settings):
    user = make_user("administrator")
    login_as(client, user=user)
    assert client.get(AUDIT_URL).status_code == 200
    session = client.session
    session[LAST_ACTIVITY_KEY] = time.time() - settings.EXPLORER_SESSION_IDLE_SECONDS - 5
    session.save()
    assert client.get(AUDIT_URL)["Location"].startswith("/accounts/login/")
    assert AuditEntry.objects.filter(action=AuditAction.LOGOUT, detail__startswith="idle").exists()


@pytest.mark.django_db
def test_logout_ends_the_session_everywhere(client):
    from django.test import Client

    user = make_user("administrator")
    login_as(client, user=user)
    laptop = Client()
    login_as(laptop, user=user)
    assert laptop.get(AUDIT_URL).status_code == 200
    client.post("/accounts/logout/")
    assert laptop.get(AUDIT_URL)["Location"].startswith("/accounts/login/")
    assert client.get(AUDIT_URL)["Location"].startswith("/accounts/login/")
    assert AuditAction.LOGOUT in actions(user.username)
    assert Session.objects.count() <= 1  # the laptop's session was flushed at its next request


@pytest.mark.django_db
def test_admin_resets_second_factor(client):
    admin_user = make_user("administrator", username="boss")
    login_as(client, user=admin_user)
    # A user with no rights beyond the administrator's (issue 26: others are a superuser's,
    # tests/test_security_takeover.py).
    victim = make_user("administrator", username="lost-phone")
    StaticDevice.objects.create(user=victim, name="backup codes")
    response = client.post(
        "/admin/auth/user/",
        {"action": "reset_second_factor", "_selected_action": [victim.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=victim).exists()
    assert not StaticDevice.objects.filter(user=victim).exists()
    entry = AuditEntry.objects.get(action=AuditAction.SECOND_FACTOR_RESET)
    assert entry.username == "boss" and entry.object_id == str(victim.pk)
