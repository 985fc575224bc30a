"""django-auth-ldap settings from environment variables (read by explorer/settings.py; the
LDAP tests build theirs the same way). LDAP is off when EXPLORER_LDAP_SERVER_URI is empty.

EXPLORER_LDAP_SERVER_URI        ldap://dc1.corp:389 (with StartTLS) or ldaps://dc1.corp:636
EXPLORER_LDAP_START_TLS         1/0; default 1 for ldap://, ignored for ldaps://
EXPLORER_LDAP_CA_FILE           PEM file of the CA that signed the directory's certificate
EXPLORER_LDAP_BIND_DN, EXPLORER_LDAP_BIND_PASSWORD   service account for search-then-bind
EXPLORER_LDAP_USER_DN_TEMPLATE  uid=%(user)s,ou=people,dc=corp: direct bind, no search
EXPLORER_LDAP_USER_SEARCH_BASE  ou=people,dc=corp: search-then-bind (when no DN template)
EXPLORER_LDAP_USER_SEARCH_FILTER  default (uid=%(user)s)
EXPLORER_LDAP_GROUP_SEARCH_BASE ou=groups,dc=corp
EXPLORER_LDAP_GROUP_TYPE        groupOfNames (default), groupOfUniqueNames or posixGroup
EXPLORER_LDAP_GROUP_<ROLE>      DN(s) of the group(s) whose members get the role, ";"-separated,
                                for ROLE in ONBOARDING, SUPPORT, ANALYST, ARCHITECT, ADMINISTRATOR
EXPLORER_LDAP_ATTR_FIRST_NAME / _LAST_NAME / _EMAIL   default givenName / sn / mail
EXPLORER_LDAP_TIMEOUT           seconds for connecting and each operation, default 5
A user in none of the mapped groups cannot log in.
"""

from collections.abc import Mapping
from functools import reduce
from operator import or_

import ldap
from django_auth_ldap.config import (
    GroupOfNamesType,
    GroupOfUniqueNamesType,
    LDAPGroupQuery,
    LDAPSearch,
    PosixGroupType,
)

from explorer.sources.config import url_scheme

from .roles import ROLES

GROUP_TYPES = {
    "groupofnames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
    "groupofuniquenames": (GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
    "posixgroup": (PosixGroupType, "(objectClass=posixGroup)"),
}


class LDAPConfigurationError(ValueError):
    pass


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def ldap_settings(env: Mapping[str, str]) -> dict:
    """AUTH_LDAP_* settings plus EXPLORER_LDAP_ROLE_GROUPS (role -> group DNs)."""
    uri = env.get("EXPLORER_LDAP_SERVER_URI", "").strip()
    role_groups = {
        role: [
            dn.strip()
            for dn in env.get(f"EXPLORER_LDAP_GROUP_{role.upper()}", "").split(";")
            if dn.strip()
        ]
        for role in ROLES
    }
    role_groups = {role: dns for role, dns in role_groups.items() if dns}
    if not uri:
        return {"EXPLORER_LDAP_ENABLED": False, "EXPLORER_LDAP_ROLE_GROUPS": {}}
    if not role_groups:
        raise LDAPConfigurationError(
            "EXPLORER_LDAP_SERVER_URI is set but no EXPLORER_LDAP_GROUP_<ROLE> maps a group "
            "to a role: nobody could log in"
        )
    group_type_name = env.get("EXPLORER_LDAP_GROUP_TYPE", "groupOfNames").strip().lower()
    if group_type_name not in GROUP_TYPES:
        raise LDAPConfigurationError(
            f"EXPLORER_LDAP_GROUP_TYPE={group_type_name!r}: use one of {sorted(GROUP_TYPES)}"
        )
    group_type, group_filter = GROUP_TYPES[group_type_name]
    group_base = env.get("EXPLORER_LDAP_GROUP_SEARCH_BASE", "").strip()
    if not group_base:
        raise LDAPConfigurationError("EXPLORER_LDAP_GROUP_SEARCH_BASE is required with LDAP")
    ldaps = url_scheme(uri) == "ldaps"
    timeout = float(env.get("EXPLORER_LDAP_TIMEOUT", "5"))

    options = {
        ldap.OPT_NETWORK_TIMEOUT: timeout,
        ldap.OPT_TIMEOUT: timeout,
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
    }
    ca_file = env.get("EXPLORER_LDAP_CA_FILE", "").strip()
    if ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_file
    options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above to this connection

    result = {
        "EXPLORER_LDAP_ENABLED": True,
        "EXPLORER_LDAP_ROLE_GROUPS": role_groups,
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_START_TLS": (not ldaps) and _bool(env.get("EXPLORER_LDAP_START_TLS"), True),
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_BIND_DN": env.get("EXPLORER_LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": env.get("EXPLORER_LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_GROUP_SEARCH": LDAPSearch(group_base, ldap.SCOPE_SUBTREE, group_filter),
        "AUTH_LDAP_GROUP_TYPE": group_type(),
        # Refused unless in at least one mapped group.
        "AUTH_LDAP_REQUIRE_GROUP": reduce(
            or_, (LDAPGroupQuery(dn) for dns in role_groups.values() for dn in dns)
        ),
        "AUTH_LDAP_USER_ATTR_MAP": {
            "first_name": env.get("EXPLORER_LDAP_ATTR_FIRST_NAME", "givenName"),
            "last_name": env.get("EXPLORER_LDAP_ATTR_LAST_NAME", "sn"),
            "email": env.get("EXPLORER_LDAP_ATTR_EMAIL", "mail"),
        },
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,
    }
    template = env.get("EXPLORER_LDAP_USER_DN_TEMPLATE", "").strip()
    if template:
        result["AUTH_LDAP_USER_DN_TEMPLATE"] = template
        # Without a service account, look the groups up as the user who just logged in.
        result["AUTH_LDAP_BIND_AS_AUTHENTICATING_USER"] = not result["AUTH_LDAP_BIND_DN"]
    else:
        base = env.get("EXPLORER_LDAP_USER_SEARCH_BASE", "").strip()
        if not base:
            raise LDAPConfigurationError(
                "set EXPLORER_LDAP_USER_DN_TEMPLATE (direct bind) or "
                "EXPLORER_LDAP_USER_SEARCH_BASE (search-then-bind)"
            )
        result["AUTH_LDAP_USER_SEARCH"] = LDAPSearch(
            base, ldap.SCOPE_SUBTREE, env.get("EXPLORER_LDAP_USER_SEARCH_FILTER", "(uid=%(user)s)")
        )
    return result
