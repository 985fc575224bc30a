"""The roles of the explorer: Django groups and the permissions each one holds.

The custom permissions live on accounts.RolePermissions (app label `accounts`); views declare
the one they need with accounts.access.requires("codename"). Administrators also get the
Django model permissions the admin site needs to manage users, second-factor devices,
lockouts and to read the audit log.
"""

from django.utils.translation import pgettext_lazy

# codename -> human-readable name
CUSTOM_PERMISSIONS = {
    "view_journeys": "View order and customer journeys and trace pages",
    "view_tours": "View onboarding tours",
    "view_customer_ids": "See customer identifiers unmasked",
    "view_analytics": "View system-wide analytics (system map, drift, SLA, anomalies, search)",
    "upload_traces": "Upload trace files",
    "edit_model": "Edit the C4 model, the mapping, the state graph and tours",
    "view_audit": "Search and export the audit log",
    "manage_users": "Manage users, roles and second-factor devices",
    "use_admin": "Use the Django admin, for the models the role's model permissions allow",
}

ROLE_PERMISSIONS = {
    "onboarding": ["view_journeys", "view_tours"],
    "support": ["view_journeys", "view_tours", "view_customer_ids", "upload_traces"],
    "analyst": ["view_journeys", "view_tours", "view_analytics", "upload_traces"],
    "architect": [
        "view_journeys",
        "view_tours",
        "view_analytics",
        "upload_traces",
        "edit_model",
        "use_admin",
    ],
    "administrator": ["view_tours", "view_audit", "manage_users", "use_admin"],
}
ROLES = tuple(ROLE_PERMISSIONS)

# What the page header shows for a role (and for a superuser).
ROLE_TITLES = {
    "onboarding": pgettext_lazy("role", "onboarding"),
    "support": pgettext_lazy("role", "support"),
    "analyst": pgettext_lazy("role", "analyst"),
    "architect": pgettext_lazy("role", "architect"),
    "administrator": pgettext_lazy("role", "administrator"),
    "superuser": pgettext_lazy("role", "superuser"),
}

# (app label, model, actions) of the Django admin the administrators work with.
ADMINISTRATOR_MODEL_PERMISSIONS = [
    ("auth", "user", ("view", "add", "change")),
    ("auth", "group", ("view",)),
    ("accounts", "auditentry", ("view",)),
    ("admin", "logentry", ("view",)),
    ("otp_totp", "totpdevice", ("view", "delete")),
    ("otp_static", "staticdevice", ("view", "delete")),
    ("axes", "accessattempt", ("view", "delete")),
    ("erasure", "customer", ("forget",)),  # explorer/erasure: forgetting a customer
]

PERMISSION_HOLDER_MODEL = "rolepermissions"


def sync_role_groups(apps) -> None:
    """Create or update the role groups with exactly their permissions.

    Takes the (historical) app registry so data migrations can call it; permissions are
    created here because Django only creates them after all migrations have run.
    """
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")

    def permission(app_label: str, model: str, codename: str, name: str):
        content_type, _ = content_type_model.objects.get_or_create(app_label=app_label, model=model)
        found, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        return found

    custom = {
        codename: permission("accounts", PERMISSION_HOLDER_MODEL, codename, name)
        for codename, name in CUSTOM_PERMISSIONS.items()
    }
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        granted = [custom[codename] for codename in codenames]
        granted += [
            permission(app_label, model, f"{action}_{model}", f"Can {action} {model}")
            for app_label, model, actions in (
                ADMINISTRATOR_MODEL_PERMISSIONS if role == "administrator" else ()
            )
            for action in actions
        ]
        group.permissions.set(granted)
