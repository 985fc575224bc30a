"""TOTP enrolment and backup codes (django-otp), and counting wrong codes with django-axes."""

import base64

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .signals import SECOND_FACTOR_SENDER

BACKUP_CODE_COUNT = 10


def pending_totp_device(user) -> TOTPDevice:
    """The user's unconfirmed authenticator (created on first call), tolerating one step of
    clock drift either way."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name="authenticator app", confirmed=False, tolerance=1
        )
    return device


def totp_secret_text(device: TOTPDevice) -> str:
    """The key as authenticator apps expect it typed in: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code (no scripts, no style attributes)."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=4, dark="#111", light="#fff", title=_("QR code of the authenticator key")
    )


def new_backup_codes(user) -> list[str]:
    """Replaces the user's backup codes with fresh single-use ones and returns them."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def is_locked_out(request, user) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": user.get_username()})


def count_failed_code(request, user) -> bool:
    """Counts a wrong code like a wrong password (audited by the receiver); True when this
    failure locked the user or the address out."""
    user_login_failed.send(
        sender=SECOND_FACTOR_SENDER, credentials={"username": user.get_username()}, request=request
    )
    return bool(getattr(request, "axes_locked_out", False))
