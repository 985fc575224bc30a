"""The role groups and their permissions as they were when this migration was written.

Frozen on purpose: a data migration applies what was true then, so replaying the migrations
gives the same groups whatever accounts/roles.py says today (later changes are migrations of
their own, such as 0003)."""

from django.db import migrations

CUSTOM_PERMISSIONS = {
    "view_journeys": "View order and customer journeys and trace pages",
    "view_tours": "View onboarding tours",
    "view_customer_ids": "See customer identifiers unmasked",
    "view_analytics": "View system-wide analytics (system map, drift, SLA, anomalies, search)",
    "upload_traces": "Upload trace files",
    "edit_model": "Edit the C4 model, the mapping, the state graph and tours",
    "view_audit": "Search and export the audit log",
    "manage_users": "Manage users, roles and second-factor devices",
}
ROLE_PERMISSIONS = {
    "onboarding": ["view_journeys", "view_tours"],
    "support": ["view_journeys", "view_tours", "view_customer_ids", "upload_traces"],
    "analyst": ["view_journeys", "view_tours", "view_analytics", "upload_traces"],
    "architect": ["view_journeys", "view_tours", "view_analytics", "upload_traces", "edit_model"],
    "administrator": ["view_tours", "view_audit", "manage_users"],
}
ADMINISTRATOR_MODEL_PERMISSIONS = [
    ("auth", "user", ("view", "add", "change")),
    ("auth", "group", ("view",)),
    ("accounts", "auditentry", ("view",)),
    ("admin", "logentry", ("view",)),
    ("otp_totp", "totpdevice", ("view", "delete")),
    ("otp_static", "staticdevice", ("view", "delete")),
    ("axes", "accessattempt", ("view", "delete")),
]


def create_role_groups(apps, schema_editor):
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")

    def permission(app_label, model, codename, name):
        # Django creates permissions only after all migrations ran: create them here.
        content_type, _ = content_type_model.objects.get_or_create(app_label=app_label, model=model)
        found, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        return found

    custom = {
        codename: permission("accounts", "rolepermissions", codename, name)
        for codename, name in CUSTOM_PERMISSIONS.items()
    }
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        granted = [custom[codename] for codename in codenames]
        if role == "administrator":
            granted += [
                permission(app_label, model, f"{action}_{model}", f"Can {action} {model}")
                for app_label, model, actions in ADMINISTRATOR_MODEL_PERMISSIONS
                for action in actions
            ]
        group.permissions.set(granted)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
