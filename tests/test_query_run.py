"""Queries run on the embedded store (explorer.sources.querying) give what the reference
evaluator gives over every stored trace; `manage.py query --json` and the query page give the
same; redaction and audit apply to queries as to the search box."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEntry
from accounts.testing import pseudonym_of
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.orders.models import OrderStatus
from explorer.orders.service import order_lookup, query_traces
from explorer.query.evaluate import matches
from explorer.query.parser import parse
from explorer.simulation import parse_fault_rates
from explorer.sources.querying import QueryRun, necessary_search
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace
from explorer.traces.vocabulary import BUSINESS_KEYS
from tests.simulation_support import empty_store_and_orders

SIMULATION = {
    "orders": 40,
    "days": 3,
    "until_days": 6,
    "seed": 5,
    "fault_rates": parse_fault_rates(["lost_message=0.05", "slow_price=0.1"]),
}
# Each operator, intrinsic and scope; structure, aggregates, order conditions, and their mixes.
QUERIES = [
    '{ .order.id = "A-100003" }',
    '{ span.order.id != "A-100003" && resource.service.name = "crm-api" }',
    '{ resource.service.name = "crm-api" && name = "POST /api/orders/{id}/approve" }',
    '{ .customer.type = "b2b_partner" && kind = server }',
    "{ span.http.response.status_code >= 500 }",
    "{ .http.response.status_code = 200 && duration > 300ms }",
    "{ duration >= 2s }",
    "{ duration < 5ms && kind = client }",
    '{ name =~ "(?i)select.*" && .db.namespace = "mes" }',
    '{ name !~ "GET.*" && kind = consumer }',
    "{ .server.port > 5432 && .server.port <= 5672 }",
    "{ status = error }",
    "{ status != unset }",
    '{ .messaging.system = nil && kind = producer } || { .customer.id = "C-00011" }',
    "{ kind = server } >> { status = error }",
    '{ kind = server } > { .db.system.name = "postgresql" && duration > 50ms }',
    '{ resource.service.name = "mes-api" } && { resource.service.name = "mes" }',
    "{ } | count() > 8",
    '{ .db.system.name = "postgresql" } | avg(duration) > 20ms',
    "{ kind = client } | max(duration) >= 1s | min(duration) < 5ms",
    "order.status = stuck",
    "order.status = lost || order.status = stuck",
    'order.customer_type = b2b_partner && { name = "click Start" }',
    "{ status = error } && order.customer_type = retail",
    '{ name = "click Start" } || order.status = stuck',
    "order.dwell(SUBMITTED) > 1s",
    "order.dwell(MANUFACTURING_STARTED) > 1h && order.status = complete",
    "order.state = CLOSED",
    "order.nosuchfact = 1",
]


@pytest.fixture(scope="module")
def stored(simulation, django_db_setup, django_db_blocker):
    """The simulation stored and its order-status rows refreshed, for the whole module (one
    ingest: each test reads only), removed at the end."""
    traces = simulation(**SIMULATION).traces()
    with django_db_blocker.unblock():
        store_traces(traces)
        call_command("orders", "--refresh", stdout=io.StringIO())
        source = get_source()
        everything = source.get_traces(list(StoredTrace.objects.values_list("trace_id", flat=True)))
        yield source, everything
        empty_store_and_orders()


_brute_forced: dict[str, list[str]] = {}  # of the module's one store: each query once


def brute_force(source, everything, text: str) -> list[str]:
    """The ids of the stored traces `text` matches, by the reference evaluator over each."""
    if text not in _brute_forced:
        _brute_forced[text] = _evaluate_each(source, everything, text)
    return _brute_forced[text]


def _evaluate_each(source, everything, text: str) -> list[str]:
    query = parse(text)
    facts = order_lookup(source, explorer_config())
    found = [t for t in everything if matches(query, t, facts)]
    return [t.trace_id for t in sorted(found, key=lambda t: (-t.spans[0].start_ns, t.trace_id))]


def run(source, text: str, **options):
    options.setdefault("limit", 10_000)
    return query_traces(
        source, explorer_config(), parse(text), QueryRun(business_keys=BUSINESS_KEYS, **options)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("text", QUERIES)
def test_results_equal_the_brute_force(stored, text):
    source, everything = stored
    expected = brute_force(source, everything, text)
    result = run(source, text)
    assert [hit.summary.trace_id for hit in result.hits] == expected
    assert not result.bounded


@pytest.mark.django_db
def test_the_data_gives_every_query_something_to_tell(stored):
    """The brute force finds some traces and leaves out others for most queries: a query that
    matches nothing or everything would prove little."""
    source, everything = stored
    telling = [t for t in QUERIES if 0 < len(brute_force(source, everything, t)) < len(everything)]
    assert len(telling) == len(QUERIES) - 1  # order.nosuchfact: nothing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "most"),
    [
        ('{ .order.id = "A-100003" }', 40),
        ('{ resource.service.name = "crm-api" && name = "POST /api/orders/{id}/approve" }', 60),
        ("{ status = error }", 10),
        ("{ duration >= 2s }", 200),
        ("order.status = stuck", 200),
    ],
)
def test_indexed_conditions_read_only_candidates(stored, text, most):
    source, everything = stored
    result = run(source, text)
    assert result.examined <= most < len(everything)
    assert result.hits


def test_necessary_search_takes_what_every_match_needs():
    search = necessary_search(
        parse(
            '{ resource.service.name = "a" && name = "n" && duration > 2s } >> '
            '{ .order.id = "A-1" && status = error } | count() > 1'
        ).expression,
        BUSINESS_KEYS,
    )
    assert (search.service, search.operation) == ("a", "n")
    assert search.attributes == {"order.id": "A-1"}
    assert search.min_duration_ns == 2 * 10**9 and search.errors_only
    either = necessary_search(parse('{ .order.id = "A-1" } || { status = error }').expression, [])
    assert either.attributes == {} and not either.errors_only
    not_business = necessary_search(parse('{ .http.route = "/x" }').expression, BUSINESS_KEYS)
    assert not_business.attributes == {}
    jaeger = necessary_search(
        parse('{ .order.id = "A-1" } && { duration > 1s }').expression,
        BUSINESS_KEYS,
        one_spanset=True,
    )
    assert jaeger.attributes == {"order.id": "A-1"} and jaeger.min_duration_ns is None


@pytest.mark.django_db
def test_limit_keeps_the_newest_and_the_bound_is_said(stored):
    source, everything = stored
    expected = brute_force(source, everything, "{ kind = server }")
    assert [h.summary.trace_id for h in run(source, "{ kind = server }", limit=7).hits] == (
        expected[:7]
    )
    bounded = run(source, "{ status = ok }", limit=5, max_candidates=30)
    assert bounded.bounded and bounded.examined == 30 and bounded.hits == []
    assert "stopped at 30" in bounded.notes[0]


@pytest.mark.django_db
def test_lookback_window(stored):
    source, everything = stored
    newest = max(t.spans[0].start_ns for t in everything)
    start = newest - 86_400 * 10**9
    result = run(source, "{ kind = server }", start_ns=start)
    expected = [
        t
        for t in brute_force(source, everything, "{ kind = server }")
        if next(x for x in everything if x.trace_id == t).spans[0].start_ns >= start
    ]
    assert [h.summary.trace_id for h in result.hits] == expected and expected


# --- the command and the page ---------------------------------------------------------------


def command_ids(*args) -> tuple[list[str], dict]:
    out = io.StringIO()
    call_command("query", *args, "--json", stdout=out)
    data = json.loads(out.getvalue())
    return [t["trace_id"] for t in data["traces"]], data


def page_ids(client, **params):
    response = client.get(reverse("web:query"), params)
    return re.findall(r'data-trace-id="([^"]+)"', response.content.decode()), response


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    [
        '{ .order.id = "A-100003" }',
        "{ kind = server } >> { status = error }",
        "order.status = stuck",
    ],
)
def test_command_and_page_give_the_same_traces(stored, client, login_as, text):
    login_as("support")  # sees customer ids: nothing redacted
    ids, data = command_ids(text, "--limit", "50")
    shown, response = page_ids(client, q=text, limit="50")
    assert response.status_code == 200
    assert ids and shown == ids
    assert data["answered_by"] == "here" and data["examined"] >= len(ids)


@pytest.mark.django_db
def test_lookback_and_limit_pickers_agree_with_the_command(stored, client, login_as):
    login_as("support")
    ids, _ = command_ids("{ kind = server }", "--limit", "20", "--lookback", "1d")
    shown, _ = page_ids(client, q="{ kind = server }", limit="20", lookback="1d")
    assert shown == ids and len(ids) == 20
    everything, _ = command_ids("{ kind = server }", "--limit", "500")
    assert len(everything) > 20


@pytest.mark.django_db
def test_every_query_is_audited(stored, client, login_as):
    login_as("support")
    client.get(reverse("web:query"), {"q": "{ status = error }"})
    call_command("query", "order.status = stuck", stdout=io.StringIO())
    entries = AuditEntry.objects.filter(object_type="query").order_by("pk")
    assert [e.object_id for e in entries] == ["{ status = error }", "order.status = stuck"]
    assert "answered by here" in entries[0].detail
    assert entries[1].username.startswith("manage.py query")
    client.get(reverse("web:query"), {"q": "{ status = bad }"})
    last = AuditEntry.objects.filter(object_type="query").order_by("pk").last()
    assert last.detail.startswith("error: ")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{ " * 20 + ".a = 1" * 20_000 + " }" * 20, "more than the limit of 4096"),
        ("(" * 10_000 + "{ }" + ")" * 10_000, "more than the limit"),
        ('{ .a =~ "(a+)+$" }', "nested quantifiers"),
    ],
)
def test_hostile_queries_are_refused_on_the_page(client, login_as, text, said):
    login_as("support")
    response = client.get(reverse("web:query"), {"q": text})
    assert response.status_code == 400
    assert said in response.content.decode()
    assert len(response.content) < 40_000  # the error's surroundings, not the whole query


@pytest.mark.django_db
def test_command_refuses_a_bad_query_with_its_position():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="status is one of ok, error, unset .* at column 12"):
        call_command("query", "{ status = bad }", stdout=io.StringIO())
    with pytest.raises(CommandError, match="lookback"):
        call_command("query", "{ }", "--lookback", "soon", stdout=io.StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "said"),
    [("en", "The query has an error at line 1, column 12"), ("ru", "Ошибка в запросе")],
)
def test_the_page_shows_the_error_at_its_position(client, login_as, language, said):
    login_as("support")
    client.cookies["django_language"] = language
    response = client.get(reverse("web:query"), {"q": "{ status = bad }"})
    assert response.status_code == 400
    page = response.content.decode()
    assert said in page
    assert "<mark>b</mark>ad }" in page
    assert 'aria-invalid="true"' in page


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "said"), [("en", "traces found"), ("ru", "Вычислено здесь")])
def test_the_page_in_both_languages(stored, client, login_as, language, said):
    login_as("support")
    client.cookies["django_language"] = language
    response = client.get(reverse("web:query"), {"q": "{ status = error }"})
    assert said in response.content.decode()


@pytest.mark.django_db
def test_hostile_query_text_is_escaped(client, login_as):
    login_as("support")
    response = client.get(reverse("web:query"), {"q": '{ name = "<script>alert(1)</script>" }'})
    page = response.content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


# --- redaction ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_raw_customer_id_is_not_searched_by_query(stored, client, login_as):
    """A viewer who sees pseudonyms cannot find a customer by its real id (audited, refused,
    the same answer whether it exists or not), nor guess it with a pattern; the pseudonym
    finds what the real id finds for a viewer who sees ids."""
    source, everything = stored
    expected = brute_force(source, everything, '{ .customer.id = "C-00011" }')
    assert expected
    login_as("analyst")
    found, response = page_ids(client, q='{ .customer.id = "C-00011" }', limit="500")
    assert found == [] and "pseudonym" in response.content.decode()
    refused = AuditEntry.objects.filter(detail__startswith="refused: raw customer identifier")
    assert refused.count() == 1
    pattern, _ = page_ids(client, q='{ .customer.id =~ "C.*" }', limit="500")
    assert pattern == []
    ordered, _ = page_ids(client, q='{ .customer.id >= "C" && .customer.id < "D" }', limit="500")
    assert ordered == []
    by_pseudonym, _ = page_ids(
        client, q=f'{{ .customer.id = "{pseudonym_of("C-00011")}" }}', limit="500"
    )
    assert sorted(by_pseudonym) == sorted(expected)


@pytest.mark.django_db
def test_order_facts_are_queried_as_the_viewer_sees_them(stored, client, login_as):
    row = OrderStatus.objects.exclude(customer_id="").first()
    login_as("analyst")
    raw, _ = page_ids(client, q=f'order.customer_id = "{row.customer_id}"', limit="500")
    assert raw == []
    pattern, _ = page_ids(client, q='order.customer_id =~ "C-0.*"', limit="500")
    assert pattern == []
    masked, _ = page_ids(
        client, q=f'order.customer_id = "{pseudonym_of(row.customer_id)}"', limit="500"
    )
    assert masked


@pytest.mark.django_db
def test_the_home_page_links_the_query_page(client, login_as):
    login_as("onboarding")
    page = client.get(reverse("web:home")).content.decode()
    assert f'href="{reverse("web:query")}"' in page
    assert client.get(reverse("web:query")).status_code == 200
