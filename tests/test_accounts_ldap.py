"""LDAP login against a real slapd (tests/ldap) that requires StartTLS with a test CA."""

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from accounts.ldap_config import LDAPConfigurationError, ldap_settings
from accounts.models import AuditAction, AuditEntry
from tests.ldap import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    ANALYST_GROUP,
    GROUPS,
    PEOPLE,
    SUPPORT_GROUP,
    make_tls_files,
    start_slapd,
)

pytestmark = pytest.mark.ldap


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


def environment(slapd, **overrides):
    env = {
        "EXPLORER_LDAP_SERVER_URI": slapd.uri,
        "EXPLORER_LDAP_CA_FILE": str(slapd.ca_file),
        "EXPLORER_LDAP_BIND_DN": ADMIN_DN,
        "EXPLORER_LDAP_BIND_PASSWORD": ADMIN_PASSWORD,
        "EXPLORER_LDAP_USER_SEARCH_BASE": PEOPLE,
        "EXPLORER_LDAP_GROUP_SEARCH_BASE": GROUPS,
        "EXPLORER_LDAP_GROUP_SUPPORT": SUPPORT_GROUP,
        "EXPLORER_LDAP_GROUP_ANALYST": ANALYST_GROUP,
        "EXPLORER_LDAP_TIMEOUT": "3",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


@pytest.fixture
def use_ldap(settings, slapd):
    def configure(**overrides):
        for name, value in ldap_settings(environment(slapd, **overrides)).items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [
            "axes.backends.AxesStandaloneBackend",
            "django_auth_ldap.backend.LDAPBackend",
            "django.contrib.auth.backends.ModelBackend",
        ]

    configure()
    return configure


def log_in(username, password):
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="10.1.2.3")
    return authenticate(request, username=username, password=password)


def roles(user):
    return sorted(user.groups.values_list("name", flat=True))


@pytest.mark.django_db
def test_search_then_bind_maps_group_to_role_and_mirrors_attributes(use_ldap):
    user = log_in("sonia", "sonia-pass")
    assert user is not None
    assert roles(user) == ["support"]
    assert (user.first_name, user.last_name, user.email) == (
        "Sonia",
        "Support",
        "sonia@alexandrite.test",
    )
    assert not user.has_usable_password()
    assert user.has_perm("accounts.view_customer_ids")


@pytest.mark.django_db
def test_user_in_two_groups_gets_two_roles(use_ldap):
    user = log_in("boris", "boris-pass")
    assert roles(user) == ["analyst", "support"]
    assert user.has_perm("accounts.view_analytics") and user.has_perm("accounts.upload_traces")


@pytest.mark.django_db
def test_user_in_no_mapped_group_is_refused(use_ldap):
    assert log_in("nadia", "nadia-pass") is None
    entry = AuditEntry.objects.get(action=AuditAction.LOGIN_FAILED)
    assert entry.username == "nadia" and entry.address == "10.1.2.3"


@pytest.mark.django_db
def test_wrong_password_and_unknown_user_are_refused(use_ldap):
    assert log_in("sonia", "not-her-password") is None
    assert log_in("nobody", "whatever") is None
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 2


@pytest.mark.django_db
def test_direct_bind_with_dn_template(use_ldap):
    use_ldap(
        EXPLORER_LDAP_USER_DN_TEMPLATE=f"uid=%(user)s,{PEOPLE}",
        EXPLORER_LDAP_BIND_DN=None,
        EXPLORER_LDAP_BIND_PASSWORD=None,
    )
    assert roles(log_in("boris", "boris-pass")) == ["analyst", "support"]
    assert log_in("boris", "wrong") is None


@pytest.mark.django_db
def test_role_removed_when_group_membership_ends(use_ldap):
    user = log_in("boris", "boris-pass")
    use_ldap(EXPLORER_LDAP_GROUP_ANALYST=None)  # the analyst group no longer maps to a role
    assert roles(log_in("boris", "boris-pass")) == ["support"]
    user.refresh_from_db()
    assert roles(user) == ["support"]


@pytest.mark.django_db
def test_the_connection_really_uses_starttls(use_ldap):
    # The server refuses binds without TLS (security tls=1): switching StartTLS off breaks login,
    # so the successful logins above went over TLS.
    use_ldap(EXPLORER_LDAP_START_TLS="0")
    assert log_in("sonia", "sonia-pass") is None


@pytest.mark.django_db
def test_a_certificate_from_another_ca_is_refused(use_ldap, tmp_path):
    other_ca, _, _ = make_tls_files(tmp_path)
    use_ldap(EXPLORER_LDAP_CA_FILE=str(other_ca))
    assert log_in("sonia", "sonia-pass") is None


@pytest.mark.django_db
def test_login_page_with_ldap_goes_on_to_second_factor(use_ldap, client):
    response = client.post("/accounts/login/", {"username": "sonia", "password": "sonia-pass"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/second-factor/")
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN, username="sonia").exists()
    # Not verified yet: the second factor comes next, through enrolment for a new user.
    assert client.get(response["Location"])["Location"].startswith("/accounts/second-factor/enrol/")


def test_configuration_errors_are_clear(slapd):
    assert ldap_settings({})["EXPLORER_LDAP_ENABLED"] is False
    with pytest.raises(LDAPConfigurationError, match="EXPLORER_LDAP_GROUP_"):
        ldap_settings(
            environment(slapd, EXPLORER_LDAP_GROUP_SUPPORT=None, EXPLORER_LDAP_GROUP_ANALYST=None)
        )
    with pytest.raises(LDAPConfigurationError, match="USER_SEARCH_BASE"):
        ldap_settings(environment(slapd, EXPLORER_LDAP_USER_SEARCH_BASE=None))
    with pytest.raises(LDAPConfigurationError, match="GROUP_TYPE"):
        ldap_settings(environment(slapd, EXPLORER_LDAP_GROUP_TYPE="ad"))
    ldaps = ldap_settings(environment(slapd, EXPLORER_LDAP_SERVER_URI="ldaps://dc.corp:636"))
    assert ldaps["AUTH_LDAP_START_TLS"] is False
