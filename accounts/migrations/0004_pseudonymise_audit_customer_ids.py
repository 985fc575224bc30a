"""Existing audit entries rewritten with customer identifiers as pseudonyms (issue 26): from
now on accounts.audit.record stores them so, and this brings older rows in line.

Frozen: the pseudonyms of accounts/redaction.py as they were when this was written (the key
from EXPLORER_PSEUDONYM_KEY or derived from SECRET_KEY; `cust-`/`mail-`/`tel-` + 10 hex
digits of HMAC-SHA256), so replaying it gives the same rows whatever the code says later. An
object id of a customer type is pseudonymised whole; in other ids and in details, the
configured identifier patterns (default `C-` and three or more digits), e-mail addresses and
`+` phone numbers. Not reversible: the raw ids are gone (the reverse step keeps the rows).
"""

import hashlib
import hmac
import re

from django.conf import settings
from django.db import migrations

CUSTOMER_OBJECT_TYPES = ("customer", "customer_csv")
DEFAULT_PATTERNS = [r"C-\d{3,}+"]
PSEUDONYM = re.compile(r"(?:cust|mail|tel)-[0-9a-f]{10}")
# Tried only where a run of local-part characters starts (linear in the text); the address
# starts at its first word character.
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([._%+-]*+)([A-Za-z0-9_][A-Za-z0-9._%+-]*+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+)"
)
PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")


def _key() -> bytes:
    dedicated = getattr(settings, "EXPLORER_PSEUDONYM_KEY", "")
    if dedicated:
        return dedicated.encode()
    return hmac.new(
        settings.SECRET_KEY.encode(), b"alexandrite pseudonyms", hashlib.sha256
    ).digest()


def _pseudonym(value: str, key: bytes) -> str:
    value = value.strip()
    if "@" in value:
        kind, value = "mail", value.lower()
    elif value.startswith("+"):
        kind, value = "tel", re.sub(r"[^\d+]", "", value)
    else:
        kind = "cust"
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:10]}"


def _in_text(text: str, key: bytes, patterns) -> str:
    def replace(match):
        return _pseudonym(match.group(), key)

    if "@" in text:
        text = EMAIL.sub(lambda m: m.group(1) + _pseudonym(m.group(2), key), text)
    text = PHONE.sub(replace, text)
    for pattern in patterns:
        text = pattern.sub(replace, text)
    return text


def pseudonymise(apps, schema_editor):
    entries = apps.get_model("accounts", "AuditEntry").objects
    key = _key()
    configured = getattr(settings, "EXPLORER_REDACTION", {}).get("identifier_patterns")
    patterns = [re.compile(p) for p in (configured or DEFAULT_PATTERNS)]
    rows = entries.values_list("pk", "object_type", "object_id", "detail")
    for pk, object_type, object_id, detail in rows.iterator(chunk_size=2000):
        if object_type in CUSTOMER_OBJECT_TYPES and object_id:
            new_id = object_id if PSEUDONYM.fullmatch(object_id) else _pseudonym(object_id, key)
        else:
            new_id = _in_text(object_id, key, patterns)
        new_detail = _in_text(detail, key, patterns)
        if (new_id, new_detail) != (object_id, detail):
            # A queryset update: AuditEntry.save refuses changes in the application.
            entries.filter(pk=pk).update(object_id=new_id[:200], detail=new_detail)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_admin_for_architects"),
    ]

    operations = [
        migrations.RunPython(pseudonymise, migrations.RunPython.noop, elidable=False),
    ]
