import secrets

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit
from accounts.models import AuditAction
from accounts.roles import ROLES
from accounts.second_factor import totp_secret_text


class Command(BaseCommand):
    help = (
        "Creates (or resets) one local demo user per role, named after the role, with a new "
        "random password and TOTP key; prints them once. Nothing is stored elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("--prefix", default="demo-", help="user name prefix (default demo-)")

    @transaction.atomic
    def handle(self, *args, prefix, **options):
        self.stdout.write("Demo users (shown once; run again to reset them):")
        for role in ROLES:
            username = f"{prefix}{role}"
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.first_name, user.last_name = "Demo", role.capitalize()
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            TOTPDevice.objects.filter(user=user).delete()
            StaticDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(
                user=user, name="demo authenticator", confirmed=True, tolerance=1
            )
            audit.record(
                None,
                AuditAction.SECOND_FACTOR_RESET,
                "user",
                user.pk,
                f"new password and TOTP key for {username}",
                username="manage.py create_demo_users",
            )
            self.stdout.write(
                f"\n  user:      {username}\n  role:      {role}\n  password:  {password}\n"
                f"  TOTP key:  {totp_secret_text(device)}\n  otpauth:   {device.config_url}"
            )
