"""The flame graph: its columns (self time, parents), the boxes of a view (only those a pixel
wide, each under its parent, the rest counted), the endpoints (redacted, escaped, span by row)."""

from array import array

import pytest
from django.urls import reverse

from explorer.analysis.layout import TreeOrder
from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.traces.model import SpanKind, Trace
from explorer.web.flame_columns import build_columns, flame_view
from explorer.web.service_colours import PALETTE, colour_index, mapped_services
from explorer.web.trace_cache import prepare
from tests.trace_support import make_span
from tests.web_support import tree_trace

TRACE_ID = "ab" * 16
EVIL = "<script>alert(1)</script>&\u202e"


def _trace() -> Trace:
    """root 0-100 with a 0-40 and b 30-60 (overlapping: self time counts 0-60 once) and a
    1 ns leaf under b; c 90-200 outlasts its parent."""

    def span(sid, parent, start, end, service="shop-api", **kw):
        return make_span(
            sid, parent, service, trace_id="t", start_ns=start, end_ns=end, name=sid, **kw
        )

    return Trace(
        "t",
        [
            span("root", None, 0, 100, kind=SpanKind.SERVER),
            span("a", "root", 0, 40, service="mes-api"),
            span("b", "root", 30, 60, error=True),
            span("leaf", "b", 31, 32),
            span("c", "root", 90, 200),
        ],
    )


@pytest.fixture
def columns():
    reset_caches()
    return build_columns(prepare(_trace(), "test"))


def test_columns_hold_self_time_parents_and_tables(columns):
    rows = [columns.names[i] for i in columns.name]
    assert rows == ["root", "a", "b", "leaf", "c"]  # tree order
    by_name = dict(zip(rows, range(5), strict=True))
    assert list(columns.parent) == [-1, 0, 0, 2, 0]
    self_ns = {name: columns.self_ns[row] for name, row in by_name.items()}
    # root: 100 minus 0-60 (a and b overlap) minus 90-100 (c, clipped to the root).
    assert self_ns == {"root": 30, "a": 40, "b": 29, "leaf": 1, "c": 110}
    assert columns.error[by_name["b"]] == 1
    assert columns.services == ["shop-api", "mes-api"]


def test_a_view_draws_only_wide_boxes_and_counts_the_rest(columns):
    whole = flame_view(columns, -1, 100)  # 200 ns over 100 px: 2 ns a pixel
    assert whole.duration_ns == 200 and whole.min_ns == 2
    assert whole.rows == [0, 1, 2, 4]  # the 1 ns leaf is too narrow
    assert whole.hidden == [1, 0, 1, 0]  # counted under b and the root
    zoomed = flame_view(columns, 2, 1000)  # b: 30 ns over 1000 px
    assert zoomed.rows == [2, 3] and zoomed.start_ns == 30 and zoomed.hidden == [0, 0]
    assert flame_view(columns, 99, 100).root == -1  # no such row: the whole trace


def test_a_box_is_drawn_only_under_its_drawn_parent():
    spans = [
        make_span("r", None, trace_id="t", start_ns=0, end_ns=1000),
        make_span("short", "r", trace_id="t", start_ns=0, end_ns=1),
        make_span("long", "short", trace_id="t", start_ns=0, end_ns=900),  # outlasts it
    ]
    columns = build_columns(prepare(Trace("t", spans), "test"))
    view = flame_view(columns, -1, 10)
    assert view.rows == [0] and view.hidden == [2]


def test_parents_of_a_deep_chain_need_no_recursion():
    n = 50_000
    order = TreeOrder(range(n), array("i", range(n)), array("i", [n] * n))
    from explorer.web.flame_columns import _parents

    assert list(_parents(order.depth)[:3]) == [-1, 0, 1]


@pytest.fixture
def stored(db):
    reset_caches()
    store_traces([tree_trace(TRACE_ID, evil_name=EVIL)])
    yield
    reset_caches()


def test_the_page_lists_services_in_their_colours_and_escapes_names(client, login_as, stored):
    login_as("architect")
    trace_page = client.get(reverse("web:trace", args=[TRACE_ID])).content.decode()
    url = reverse("web:trace_flame", args=[TRACE_ID])
    assert f'href="{url}"' in trace_page  # the trace page links the flame graph
    body = client.get(url).content.decode()
    mapped = mapped_services()
    for service in ("shop-api", "mes-api"):
        index = colour_index(service, mapped)
        assert f'class="svc-{index}" data-colour="{PALETTE[index]}"' in body
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_boxes_answer_a_view_and_a_row_opens_its_span(client, login_as, stored):
    login_as("architect")
    url = reverse("web:trace_flame_boxes", args=[TRACE_ID])
    whole = client.get(url, {"width": "800"}).json()
    assert whole["total"] == 121 and whole["root"] == -1
    colours = {s["name"]: s["colour"] for s in whole["services"]}
    assert colours["mes-api"] == PALETTE[colour_index("mes-api", mapped_services())]
    assert len(whole["row"]) == len(whole["x"]) == len(whole["hidden"]) == 121
    root_name = whole["names"][whole["name"][0]]  # JSON: the script sets it as text
    assert root_name.startswith("<script>alert(1)</script>&") and "\u202e" not in root_name
    child = whole["row"][1]
    zoomed = client.get(url, {"root": str(child), "width": "bad"}).json()
    assert zoomed["root"] == child and zoomed["depth"][0] == 0 and len(zoomed["row"]) == 40
    answer = client.get(reverse("web:trace_flame_row", args=[TRACE_ID, child]))
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("web:span", args=[TRACE_ID, "s1"]))
    assert answer["Location"].endswith(f"?row={child}")
    span = client.get(answer["Location"])
    assert span.status_code == 200 and b"s1" in span.content
    missing = client.get(reverse("web:trace_flame_row", args=[TRACE_ID, 5000]))
    assert missing.status_code == 404


def test_boxes_are_redacted(client, login_as, db):
    reset_caches()
    store_traces([tree_trace(TRACE_ID, evil_name="call with Bearer abc.def")])
    login_as("support")
    whole = client.get(reverse("web:trace_flame_boxes", args=[TRACE_ID])).json()
    assert "abc.def" not in str(whole["names"]) and "Bearer" in str(whole["names"])
    reset_caches()


def test_a_missing_trace_is_not_found(client, login_as, stored):
    login_as("architect")
    assert client.get(reverse("web:trace_flame", args=["f" * 32])).status_code == 404
    assert client.get(reverse("web:trace_flame_boxes", args=["f" * 32])).status_code == 404


def test_a_time_range_draws_the_boxes_it_overlaps_in_its_detail(columns):
    view = flame_view(columns, -1, 100, (20, 50))  # 30 ns over 100 px: all wide enough
    assert view.window == (20, 50) and view.start_ns == 20 and view.duration_ns == 30
    assert view.rows == [0, 1, 2, 3]  # c (90-200) is outside
    assert flame_view(columns, -1, 100, (500, 600)).window is None  # outside: whole trace


def test_the_page_is_audited_and_sums_time_per_operation(client, login_as, stored):
    from accounts.models import AuditEntry

    login_as("architect")
    body = client.get(reverse("web:trace_flame", args=[TRACE_ID])).content.decode()
    assert AuditEntry.objects.filter(object_type="trace", object_id=TRACE_ID).exists()
    summary = body[body.index('id="flame-summary"') :]
    assert summary.count("<tr>") == 1 + 13  # the heading and the trace's 13 operations
    assert "step 4.2" in summary


def test_an_uploaded_trace_has_its_flame_graph(client, login_as):
    from tests.test_web_uploads import otlp, upload

    login_as("support")
    trace_id = "11" * 16
    result = client.get(upload(client, otlp(trace_id))["Location"])
    trace_page = result["Location"]
    assert f'href="{trace_page}flame/"' in client.get(trace_page).content.decode()
    assert client.get(trace_page + "flame/").status_code == 200
    boxes = client.get(trace_page + "flame/boxes/").json()
    assert boxes["total"] == len(boxes["row"]) > 1
    opened = client.get(trace_page + "flame/rows/0/")
    assert opened.status_code == 302 and opened["Location"].startswith(trace_page + "spans/")


def test_a_view_of_too_many_boxes_keeps_the_longest(columns, monkeypatch):
    from explorer.web import flame_columns

    monkeypatch.setattr(flame_columns, "MAX_BOXES", 2)
    view = flame_view(columns, -1, 1000)
    assert view.rows == [0, 4] and view.min_ns == 100  # root (100 ns) and c (110 ns)
    assert view.hidden == [3, 0]


def test_a_view_with_undrawn_spans_says_where_they_start(columns, monkeypatch):
    from explorer.web import flame_columns

    whole = flame_view(columns, -1, 100)  # the 1 ns leaf is not drawn
    assert whole.density is not None and len(whole.density) == flame_columns.DENSITY_BUCKETS
    assert sum(whole.density) == 5 and whole.density[0] == 2  # root and a start at 0
    assert flame_view(columns, 2, 1000).density is None  # everything drawn
    monkeypatch.setattr(flame_columns, "DENSITY_SAMPLE", 2)  # every other row, counted twice
    assert sum(flame_view(columns, -1, 100).density) == 6
