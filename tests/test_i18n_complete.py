"""The Russian translation is complete and the account pages follow the language switch.

The catalogue check reads locale/ru/LC_MESSAGES/django.po with a small parser of the
makemessages output (no polib): every entry needs a msgstr (all plural forms), no entry may
stay fuzzy, and a python-format msgstr must use exactly the placeholders of its msgid."""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.utils import translation
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditAction, AuditEntry
from accounts.testing import login_as, make_user

RUSSIAN_PO = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    context: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstrs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        where = f"line {self.line}: "
        return where + (f"[{self.context}] " if self.context else "") + repr(self.msgid[:60])


def _unquote(text: str, path, number: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"{path}:{number}: expected a quoted string, got {text[:40]!r}")
    return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text[1:-1])


def parse_po(text: str, path="django.po") -> list[Entry]:
    """The entries of a .po file (obsolete `#~` entries skipped), header first."""
    entries: list[Entry] = []
    entry, target = None, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if entry is None or entry.msgstrs:
                entry = Entry(number)
                entries.append(entry)
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            if target is None:
                raise ValueError(f"{path}:{number}: a continuation line outside an entry")
            value = _unquote(line, path, number)
            if target == "msgstr":
                entry.msgstrs[-1] += value
            else:
                setattr(entry, target, getattr(entry, target) + value)
            continue
        keyword, _, rest = line.partition(" ")
        value = _unquote(rest, path, number)
        if keyword in ("msgctxt", "msgid") and (
            entry is None or entry.msgstrs or (keyword == "msgctxt" and entry.msgid)
        ):
            entry = Entry(number)
            entries.append(entry)
        if keyword == "msgctxt":
            entry.context, target = value, "context"
        elif keyword == "msgid":
            entry.msgid, target = value, "msgid"
        elif keyword == "msgid_plural":
            entry.msgid_plural, target = value, "msgid_plural"
        elif keyword == "msgstr" or re.fullmatch(r"msgstr\[\d+\]", keyword):
            entry.msgstrs.append(value)
            target = "msgstr"
        else:
            raise ValueError(f"{path}:{number}: unknown keyword {keyword!r}")
    return entries


def catalogue_problems(entries: list[Entry], plural_forms: int) -> list[str]:
    """What keeps a catalogue from being complete: untranslated, fuzzy, broken placeholders."""
    problems = []
    for entry in entries:
        if entry.msgid == "" and entry.context is None:
            continue  # the header
        if "fuzzy" in entry.flags:
            problems.append(f"{entry.name} is fuzzy")
        expected = plural_forms if entry.msgid_plural is not None else 1
        if len(entry.msgstrs) != expected or not all(s.strip() for s in entry.msgstrs):
            problems.append(f"{entry.name} is not translated")
            continue
        if "python-format" in entry.flags:
            wanted = set(PLACEHOLDER.findall(entry.msgid + (entry.msgid_plural or "")))
            for form in entry.msgstrs:
                if set(PLACEHOLDER.findall(form)) - wanted or (
                    entry.msgid_plural is None and set(PLACEHOLDER.findall(form)) != wanted
                ):
                    problems.append(f"{entry.name}: placeholders differ in {form!r}")
    return problems


SAMPLE = """msgid ""
msgstr ""
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Done"
msgstr "Готово"

#, fuzzy
#| msgid "Log"
msgid "Log in"
msgstr "Журнал"

msgctxt "button"
msgid "Log in"
msgstr ""

#, python-format
msgid "%(n)s step"
msgid_plural "%(n)s steps"
msgstr[0] "%(n)s шаг"
msgstr[1] ""

#, python-format
msgid "Order %(id)s"
msgstr "Заказ %(order)s"

msgid ""
"Two "
"lines"
msgstr ""
"Две "
"строки"
"""


def test_the_checker_finds_fuzzy_untranslated_and_broken_entries():
    entries = parse_po(SAMPLE)
    assert [(e.context, e.msgid) for e in entries] == [
        (None, ""),
        (None, "Done"),
        (None, "Log in"),
        ("button", "Log in"),
        (None, "%(n)s step"),
        (None, "Order %(id)s"),
        (None, "Two lines"),
    ]
    assert entries[-1].msgstrs == ["Две строки"]
    problems = catalogue_problems(entries, plural_forms=2)
    assert len(problems) == 4, problems
    assert "fuzzy" in problems[0] and "'Log in'" in problems[0]
    assert "[button] 'Log in' is not translated" in problems[1]
    assert "'%(n)s step' is not translated" in problems[2]
    assert "placeholders differ" in problems[3]


def test_the_checker_refuses_a_malformed_file():
    with pytest.raises(ValueError, match=r"django.po:2: expected a quoted string"):
        parse_po('msgid "a"\nmsgstr Журнал\n')


def test_russian_catalogue_is_complete():
    text = RUSSIAN_PO.read_text(encoding="utf-8")
    entries = parse_po(text, RUSSIAN_PO)
    header = entries[0].msgstrs[0]
    plural_forms = int(re.search(r"nplurals=(\d+)", header)[1])
    assert plural_forms == 4
    assert len(entries) > 300  # every page of the explorer, not a stub
    problems = catalogue_problems(entries, plural_forms)
    assert not problems, "\n".join(problems)


# --- The account pages in Russian ------------------------------------------------------------


def choose_russian(client):
    response = client.post("/i18n/setlang/", {"language": "ru", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"


def page(response) -> str:
    return response.content.decode()


@pytest.mark.django_db
def test_login_page_in_russian_after_choosing_russian(client):
    english = page(client.get("/accounts/login/"))
    assert 'lang="en"' in english and ">Log in</button>" in english
    choose_russian(client)
    body = page(client.get("/accounts/login/"))
    assert 'lang="ru"' in body
    for russian in (
        "<title>Вход · Alexandrite</title>",
        "Войдите с учётной записью компании",
        ">Войти</button>",
        "Перейти к содержимому",
        "Только внутренняя сеть",
        "Имя пользователя",
        "Пароль",
    ):
        assert russian in body, russian
    for english_text in ("Log in", "Skip to content", "company account", "every access"):
        assert english_text not in body, english_text


@pytest.mark.django_db
def test_second_factor_page_and_its_error_in_russian(client):
    user = make_user("support")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    choose_russian(client)
    body = page(client.get("/accounts/second-factor/"))
    for russian in (
        '<h1 id="otp-title">Введите код</h1>',
        "Откройте приложение-аутентификатор",
        ">Код</label>",
        "один из ваших резервных кодов",
        ">Проверить</button>",
        ">Выйти</button>",
    ):
        assert russian in body, russian
    for english_text in ("Enter your code", "Verify", "Log out", "backup code"):
        assert english_text not in body, english_text
    wrong = page(client.post("/accounts/second-factor/", {"code": "000000"}))
    assert "Код неверен. Проверьте время на телефоне" in wrong


@pytest.mark.django_db
def test_enrolment_page_in_russian(client):
    user = make_user("support")
    TOTPDevice.objects.filter(user=user).delete()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    choose_russian(client)
    body = page(client.get("/accounts/second-factor/enrol/"))
    assert "Настройте аутентификатор" in body and "QR-код ключа аутентификатора" in body
    for english_text in ("Set up your authenticator", "QR code", "six-digit", "Confirm"):
        assert english_text not in body, english_text


@pytest.mark.django_db
def test_audit_log_filters_and_actions_in_russian(client):
    login_as(client, "administrator")
    AuditEntry.objects.create(username="nadia", action=AuditAction.LOGIN_FAILED)
    choose_russian(client)
    body = page(client.get("/accounts/audit/"))
    for russian in (
        "<h1>Журнал аудита</h1>",
        ">Пользователь</label>",
        ">С</label>",
        ">По (включительно)</label>",
        '<option value="" selected>любое</option>',
        "<td>неудачный вход</td>",
        "Экспорт в CSV",
        ">Выйти</button>",
        '<span class="role-badge">администратор</span>',
    ):
        assert russian in body, russian
    assert "failed login" not in body and "Audit log" not in body


def test_every_model_of_the_admin_is_named_in_russian():
    models = [
        found
        for model, model_admin in admin.site._registry.items()
        for found in (model, *(inline.model for inline in model_admin.inlines))
    ]
    untranslated = []
    for model in models:
        names = (model._meta.verbose_name, model._meta.verbose_name_plural)
        with translation.override("en"):
            english = [str(name) for name in names]
        with translation.override("ru"):
            russian = [str(name) for name in names]
        untranslated += [
            f"{model._meta.label}: {name}"
            for name, ru in zip(english, russian, strict=True)
            if name == ru
        ]
    assert len(models) >= 15 and untranslated == []


@pytest.mark.django_db
def test_admin_index_in_russian(client):
    login_as(client, "administrator")
    choose_russian(client)
    body = page(client.get("/admin/"))
    for russian in ("Журнал аудита", "Прохождение тура", "Забыть клиента", "Пользователи"):
        assert russian in body, russian
    assert "Audit entries" not in body and "Tour progress" not in body


@pytest.mark.django_db
def test_permission_page_in_russian(client):
    login_as(client, "support")
    choose_russian(client)
    response = client.get("/accounts/audit/")
    assert response.status_code == 403
    body = page(response)
    assert "Доступ запрещён" in body and "Для этой страницы нужно право «view_audit»." in body
    assert "Not allowed" not in body


@pytest.mark.django_db
def test_outside_network_page_follows_the_browser_language_and_does_not_leak(client):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    russian = page(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ru", **outside))
    assert "Trace Explorer доступен только из сети компании" in russian
    assert "<code>203.0.113.9</code>" in russian
    # A Russian page rendered just before must not leave the next visitor's page in Russian.
    client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ru")
    english = page(client.get("/accounts/login/", **outside))
    assert "available only from the company network" in english
