"""The small things a new user trips over: the admin link, the administrator's home,
case-insensitive ids, the home page's order, the upload list's filter, the end of a tour,
the favicon, the header on pages without the explorer's stylesheet."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from tests.journey_support import complete_order
from tests.tours_support import serve_from_memory
from tests.web_support import tree_trace


@pytest.fixture
def stored(db):
    reset_caches()
    store_traces([*complete_order("A-100001", customer_id="C-00123").traces, tree_trace("ab" * 16)])
    yield
    reset_caches()


def page(client, url, **params) -> str:
    return client.get(url, params).content.decode()


def test_ids_are_found_whatever_their_case(client, login_as, stored):
    login_as("support")
    assert client.get(reverse("web:lookup"), {"q": "a-100001"}).url == "/orders/A-100001/"
    assert client.get(reverse("web:lookup"), {"q": "c-00123"}).url == "/customers/C-00123/"
    assert client.get(reverse("web:lookup"), {"q": "AB" * 16}).url == f"/traces/{'ab' * 16}/"
    missing = client.get(reverse("web:lookup"), {"q": "a-999999"})
    assert missing.status_code == 404 and "Nothing found" in missing.content.decode()


def test_admin_link_for_everyone_who_may_use_the_admin(client, login_as, stored):
    login_as("architect")
    assert f'href="{reverse("admin:index")}"' in page(client, reverse("web:home"))
    client.logout()
    login_as("analyst", username="analyst-1")
    assert f'href="{reverse("admin:index")}"' not in page(client, reverse("web:home"))


def test_administrator_home_links_users_lockouts_audit_and_progress(client, login_as, stored):
    login_as("administrator")
    html = page(client, reverse("web:home"))
    assert "Your role has no search pages" not in html and "Find an order" not in html
    for name in (
        "admin:auth_user_changelist",
        "admin:axes_accessattempt_changelist",
        "accounts:audit_log",
        "tours:progress_all",
    ):
        assert f'href="{reverse(name)}"' in html, name
    assert 'class="admin-links"' in html


def test_the_trace_search_comes_before_the_order_lists(client, login_as, stored):
    login_as("analyst")
    html = page(client, reverse("web:home"))
    assert html.index('id="trace-search"') < html.index('id="orders-now"')


def test_favicon_and_header_styles_on_every_page(client, login_as, stored):
    login_as("support")
    html = page(client, reverse("accounts:audit_log"))  # a 403 page without web.css
    assert 'rel="icon"' in html and "favicon.svg" in html and "language-form" in html
    with open("static/css/site.css", encoding="utf-8") as css:
        assert ".site-header .language-form" in css.read()
    client.logout()
    login_as("administrator")
    html = page(client, reverse("admin:index"))  # the admin's own base template
    assert 'rel="icon"' in html and "favicon.svg" in html


def otlp(*roots: tuple[str, str, bool]) -> bytes:
    spans = []
    for n, (trace_id, name, error) in enumerate(roots):
        base = 1_740_000_000_000_000_000 + n * 10**9
        spans.append(
            {
                "traceId": trace_id,
                "spanId": f"{n:02x}00000000000001",
                "name": name,
                "kind": 2,
                "startTimeUnixNano": str(base),
                "endTimeUnixNano": str(base + 5 * 10**6),
                "status": {"code": 2 if error else 0},
            }
        )
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "shop-api"}}
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
                }
            ]
        }
    ).encode()


def test_the_upload_list_has_a_filter(client, login_as, db):
    login_as("support")
    data = otlp(
        ("11" * 16, "GET /price", False),
        ("22" * 16, "POST /orders", True),
        ("33" * 16, "GET /price/{id}", True),
    )
    response = client.post(reverse("web:upload"), {"file": SimpleUploadedFile("t.json", data)})
    url = response["Location"]
    link = 'href="' + url + "traces/"
    assert page(client, url).count(link) == 3
    price = page(client, url, q="get /PRICE")
    assert price.count("GET /price") == 2 and "POST /orders" not in price
    assert "2 of 3 traces" in price
    failing = page(client, url, q="price", errors="1")
    assert "GET /price/{id}" in failing and failing.count(link) == 1
    none = page(client, url, q="nothing like it")
    assert "No trace matches the filter." in none


def test_the_end_of_a_tour_sums_up_and_offers_the_next(db, monkeypatch, login_as, client):
    serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    login_as("onboarding")
    last = client.get("/tours/partner-order/").url
    steps = int(page(client, last).split('data-total="')[1].split('"')[0])
    html = page(client, f"/tours/partner-order/{steps}/")
    assert "You have reached the end of the tour" in html
    assert html.count("<li>", html.index("tour-summary")) >= steps
    assert 'id="tour-next-tour"' in html and "/tours/retail-order/" in html
    middle = page(client, "/tours/partner-order/1/")
    assert "You have reached the end of the tour" not in middle
