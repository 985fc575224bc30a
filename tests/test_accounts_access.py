"""Every URL is protected: anonymous -> login, no second factor -> second-factor page, and each
role reaches exactly the pages its permissions allow. Built from the URL patterns and each
view's declared permission, so it covers pages other areas add later."""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.access import requires
from accounts.roles import CUSTOM_PERMISSIONS, ROLE_PERMISSIONS, ROLES
from accounts.testing import make_user

# Views that need no permission: the way in and out, and the language switch.
PUBLIC_URL_NAMES = {
    "accounts:login",
    "accounts:logout",
    "accounts:second_factor",
    "accounts:enrol",
    "accounts:backup_codes",
    "admin:login",
    "set_language",  # added by the web area with django.conf.urls.i18n
    "web:metrics",  # Prometheus: allowed networks and a bearer token (tests/test_web_metrics.py)
}

# Sample values for URL parameters, by parameter name first, then by converter.
SAMPLE_BY_NAME = {
    "order_id": "A-100042",
    "customer_id": "C-00123",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "app_label": "auth",
    "model_name": "user",
    "content_type_id": "1",
    "object_id": "1",
    "url": "nothing-here/",
}
SAMPLE_BY_CONVERTER = {
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "uuid": "12345678-1234-5678-1234-567812345678",
    "path": "sample/path",
}


def walk(resolver=None, prefix="", namespace=""):
    """(route, converters, name, view) for every URL pattern, recursively."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            yield from walk(entry, route, f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern):
            converters = getattr(entry.pattern, "converters", {})
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield route, converters, name, entry.callback


def sample_path(route: str, converters, samples=None) -> str:
    """A concrete path for a route, with sample values for its parameters."""
    samples = {**SAMPLE_BY_NAME, **(samples or {})}

    def value(name, converter_name):
        if name in samples:
            return samples[name]
        return SAMPLE_BY_CONVERTER.get(converter_name, "sample")

    def replace_converter(match):
        converter, name = match.group(1) or "str", match.group(2)
        return value(name, converter)

    path = re.sub(r"<(?:(\w+):)?(\w+)>", replace_converter, route)
    # Regex routes (re_path): named groups, then anchors and optional markers.
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m.group(1), ""), path)
    path = path.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path


def protected_views():
    return [
        (route, converters, name, view)
        for route, converters, name, view in walk()
        if name not in PUBLIC_URL_NAMES
    ]


@pytest.fixture(scope="module")
def all_views():
    views = list(walk())
    assert any(name == "accounts:audit_log" for _, _, name, _ in views)
    return views


def test_every_view_is_protected_or_explicitly_public(all_views):
    unprotected = [
        f"{route} ({name or 'unnamed'})"
        for route, _, name, view in all_views
        if name not in PUBLIC_URL_NAMES and not hasattr(view, "required_permission")
    ]
    assert unprotected == []


def test_public_allow_list_is_not_stale(all_views):
    names = {name for _, _, name, _ in all_views}
    assert PUBLIC_URL_NAMES - names <= {"set_language"}


def test_requires_refuses_an_unknown_permission():
    with pytest.raises(ValueError, match="view_everything"):
        requires("view_everything")


def test_sample_paths():
    assert sample_path("orders/<str:order_id>/", {}) == "/orders/A-100042/"
    assert sample_path("admin/<path:object_id>/change/", {}) == "/admin/1/change/"
    assert sample_path("x/<int:n>.svg", {}) == "/x/1.svg"


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client):
    login = reverse("accounts:login")
    for route, converters, name, _ in protected_views():
        response = client.get(sample_path(route, converters))
        assert response.status_code == 302, name
        assert response["Location"].startswith(login), name


@pytest.mark.django_db
def test_without_second_factor_is_sent_to_second_factor_page(client):
    user = make_user("administrator")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    target = reverse("accounts:second_factor")
    for route, converters, name, _ in protected_views():
        response = client.get(sample_path(route, converters))
        assert response.status_code == 302, name
        assert response["Location"].startswith(target), name


def is_auth_redirect(response) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location.startswith(reverse("accounts:login"))
        or location.startswith(reverse("accounts:second_factor"))
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_pages(client, role):
    from accounts.testing import verify_second_factor

    user = make_user(role)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    verify_second_factor(client, user)
    allowed = set(ROLE_PERMISSIONS[role])
    # Ids that exist, so parametrised pages get past their lookups where they can.
    samples = {
        "content_type_id": str(ContentType.objects.get_for_model(User).pk),
        "object_id": str(user.pk),
    }
    checked = 0
    for route, converters, name, view in protected_views():
        needed = view.required_permission
        response = client.get(sample_path(route, converters, samples))
        if needed in allowed:
            # Let through; the page itself may still answer 404 for a sample id, 405 for GET
            # or 403 for its own reasons (the admin's autocomplete without a field).
            assert getattr(response, "denied_permission", None) is None, (name, needed)
            assert not is_auth_redirect(response), (name, needed)
        else:
            assert response.status_code == 403, (name, needed, response.status_code)
            assert response.denied_permission == needed
        checked += 1
    assert checked >= 2


@pytest.mark.django_db
def test_roles_match_the_conventions():
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        custom = set(
            group.permissions.filter(
                content_type__app_label="accounts", codename__in=CUSTOM_PERMISSIONS
            ).values_list("codename", flat=True)
        )
        assert custom == set(codenames), role
    assert ROLE_PERMISSIONS["support"].count("view_customer_ids") == 1
    assert "view_customer_ids" not in ROLE_PERMISSIONS["analyst"]
    assert all("view_tours" in perms for perms in ROLE_PERMISSIONS.values())


@pytest.mark.django_db
def test_analyst_granted_customer_ids_individually(client):
    user = make_user("analyst", extra_perms=["view_customer_ids"])
    assert user.has_perm("accounts.view_customer_ids")
    assert not make_user("analyst", username="plain-analyst").has_perm("accounts.view_customer_ids")


@pytest.mark.django_db
def test_admin_site_each_role_sees_only_its_models(client):
    from accounts.testing import login_as

    login_as(client, "analyst")
    assert client.get("/admin/").status_code == 403
    client.logout()

    login_as(client, "architect", username="architect-1")
    assert client.get("/admin/c4/mappingrule/").status_code == 200
    assert client.get("/admin/tours/tour/add/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403
    index = client.get("/admin/").content.decode()
    assert "Mapping rules" in index or "mapping rule" in index.lower()
    assert "/admin/auth/user/" not in index
    client.logout()

    login_as(client, "administrator", username="admin-1")
    page = client.get("/admin/auth/user/")
    assert page.status_code == 200
    assert b"Reset the second factor" in page.content
    assert client.get("/admin/c4/mappingrule/").status_code == 403
