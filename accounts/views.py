from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token, user_has_device

from . import audit
from .access import is_verified, redirect_to_second_factor, requires, second_factor_not_required
from .audit_view import shown_entry
from .exports import csv_response
from .forms import AuditFilterForm, CodeForm, LoginForm
from .models import AuditAction, AuditEntry
from .redaction import policy_for_user
from .second_factor import (
    count_failed_code,
    is_locked_out,
    new_backup_codes,
    pending_totp_device,
    totp_qr_svg,
    totp_secret_text,
)

BACKUP_CODES_SESSION_KEY = "explorer_backup_codes"


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


class ExplorerLoginView(LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm

    def get_success_url(self):
        # The password is only the first factor: go on to the second one, keeping `next`.
        return _url_with_next("accounts:second_factor", self.get_redirect_url())


def _url_with_next(name: str, next_url: str) -> str:
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@login_not_required
@require_http_methods(["GET", "POST"])
def logout_view(request):
    if request.method == "POST":
        if request.user.is_authenticated:
            logout(request)  # the user_logged_out receiver ends the user's other sessions
        messages.info(request, _("You have been logged out on every device."))
        return redirect("accounts:login")
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


def _second_factor_passed(request, device):
    """Mark the session verified under a new session key: a key seen before the second
    factor (a fixated or sniffed one) must not become a fully logged-in session."""
    otp_login(request, device)
    request.session.cycle_key()


def _refuse_locked(request):
    """Locked out while entering codes: end the session and show the lockout page."""
    logout(request)
    return render(request, "accounts/locked_out.html", status=settings.AXES_HTTP_RESPONSE_CODE)


def _code_failed(request, form):
    if count_failed_code(request, request.user):
        return _refuse_locked(request)
    form.add_error("code", _("That code is not valid. Check the time on your phone and try again."))
    return None


@second_factor_not_required
@require_http_methods(["GET", "POST"])
def second_factor(request):
    """Asks for a TOTP or backup code; first-time users are sent to enrolment."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    next_url = _next_url(request)
    if is_verified(user):
        return redirect(next_url)
    if not user_has_device(user):
        return redirect(_url_with_next("accounts:enrol", next_url))
    if is_locked_out(request, user):
        return _refuse_locked(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(user, form.cleaned_data["code"])
        if device is not None:
            _second_factor_passed(request, device)
            audit.record(request, AuditAction.SECOND_FACTOR_VERIFIED, detail=device.name)
            return redirect(next_url)
        refused = _code_failed(request, form)
        if refused:
            return refused
    return render(request, "accounts/second_factor.html", {"form": form, "next": next_url})


@second_factor_not_required
@require_http_methods(["GET", "POST"])
def enrol(request):
    """TOTP enrolment: QR code and key, confirmed by a first code; then the backup codes."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    next_url = _next_url(request)
    if user_has_device(user):
        return redirect_to_second_factor(request) if not is_verified(user) else redirect(next_url)
    if is_locked_out(request, user):
        return _refuse_locked(request)
    device = pending_totp_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            _second_factor_passed(request, device)
            audit.record(request, AuditAction.SECOND_FACTOR_ENROLLED, detail=device.name)
            request.session[BACKUP_CODES_SESSION_KEY] = new_backup_codes(user)
            return redirect(_url_with_next("accounts:backup_codes", next_url))
        refused = _code_failed(request, form)
        if refused:
            return refused
    context = {
        "form": form,
        "next": next_url,
        "qr_svg": totp_qr_svg(device),
        "secret": totp_secret_text(device),
    }
    return render(request, "accounts/enrol.html", context)


@require_http_methods(["GET", "POST"])
def backup_codes(request):
    """Shows freshly made backup codes once; a POST replaces them with new ones."""
    if not is_verified(request.user):
        return redirect_to_second_factor(request)
    if request.method == "POST":
        request.session[BACKUP_CODES_SESSION_KEY] = new_backup_codes(request.user)
        return redirect("accounts:backup_codes")
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    return render(
        request, "accounts/backup_codes.html", {"codes": codes, "next": _next_url(request)}
    )


AUDIT_PAGE_SIZE = 100
AUDIT_CSV_COLUMNS = ["time", "username", "address", "action", "object_type", "object_id", "detail"]


def _filtered(request, form):
    entries = AuditEntry.objects.all()
    return form.filter(entries) if form.is_bound else entries


@requires("view_audit")
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    entries = _filtered(request, form)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    policy = policy_for_user(request.user)
    return render(
        request,
        "accounts/audit_log.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "entries": [shown_entry(entry, policy) for entry in page],
        },
    )


@requires("view_audit")
def audit_export(request):
    form = AuditFilterForm(request.GET or None)
    entries = _filtered(request, form)
    audit.record(request, AuditAction.EXPORT, "audit_log", "", request.GET.urlencode())
    policy = policy_for_user(request.user)
    rows = (
        [shown["time"].isoformat()] + [shown[column] for column in AUDIT_CSV_COLUMNS[1:]]
        for shown in (shown_entry(entry, policy) for entry in entries.iterator(chunk_size=2000))
    )
    return csv_response(AUDIT_CSV_COLUMNS, rows, "audit-log.csv")
