"""URLs of the web explorer (namespace "web"). Ids use the `id` converter
(explorer/web/converters.py) so that any id a backend holds can be linked to; download routes
have their own prefix to stay unambiguous."""

from django.urls import path

from explorer.web import (  # converters: registers `id` before the patterns below
    analytics,
    compare,
    converters,  # noqa: F401
    downloads,
    flame,
    home,
    journeys,
    metrics,
    preferences,
    search,
    steps,
    traces,
    trends,
    uploads,
)

app_name = "web"

urlpatterns = [
    path("", home.home, name="home"),
    path("search/", search.lookup, name="lookup"),
    path("query/", search.query, name="query"),
    path("settings/", preferences.preferences, name="preferences"),
    # Downloads
    path("download/journey/<id:order_id>.json", downloads.journey_json, name="journey_json"),
    path(
        "download/journey-diagram/<id:order_id>.svg",
        downloads.journey_diagram_download,
        {"fmt": "svg"},
        name="journey_svg",
    ),
    path(
        "download/journey-diagram/<id:order_id>.png",
        downloads.journey_diagram_download,
        {"fmt": "png"},
        name="journey_png",
    ),
    path("download/trace/<id:trace_id>.json", downloads.trace_json, name="trace_json"),
    path(
        "download/trace-diagram/<id:trace_id>.svg",
        downloads.trace_diagram_download,
        {"fmt": "svg"},
        name="trace_diagram_svg",
    ),
    path(
        "download/trace-diagram/<id:trace_id>.png",
        downloads.trace_diagram_download,
        {"fmt": "png"},
        name="trace_diagram_png",
    ),
    path("download/journey/<id:order_id>.csv", downloads.journey_csv, name="journey_csv"),
    path("download/trace/<id:trace_id>.csv", downloads.trace_csv, name="trace_csv"),
    path("download/system-map.svg", downloads.map_diagram_download, {"fmt": "svg"}, name="map_svg"),
    path("download/system-map.png", downloads.map_diagram_download, {"fmt": "png"}, name="map_png"),
    # Journeys
    path("orders/", home.order_list, name="order_list"),
    path("orders-now/", home.orders_now, name="orders_now"),
    path("orders/<id:order_id>/", journeys.order, name="order"),
    # Beside the customer page, so the page links it relatively ("orders.csv"): the raw id
    # must not appear in the HTML of viewers who see it masked.
    path("customers/<id:customer_id>/orders.csv", downloads.customer_csv, name="customer_csv"),
    path("customers/<id:customer_id>/", journeys.customer, name="customer"),
    # Traces
    path("compare/", compare.compare, name="compare"),
    path("traces/<id:trace_id>/rows/", traces.rows, name="trace_rows"),
    path("traces/<id:trace_id>/stats/", traces.stats, name="trace_stats"),
    path("traces/<id:trace_id>/diagram/", traces.diagram, name="trace_diagram"),
    path("traces/<id:trace_id>/spans/<id:span_id>/", traces.span, name="span"),
    path("traces/<id:trace_id>/flame/", flame.flame, name="trace_flame"),
    path("traces/<id:trace_id>/flame/boxes/", flame.boxes, name="trace_flame_boxes"),
    path("traces/<id:trace_id>/flame/rows/<int:row>/", flame.row, name="trace_flame_row"),
    path("traces/<id:trace_id>/", traces.trace, name="trace"),
    # Analytics
    path("map/", analytics.system_map, name="system_map"),
    path("drift/", analytics.drift, name="drift"),
    path("sla/", analytics.sla, name="sla"),
    path("sla/steps/", steps.steps, name="steps"),
    path("sla/steps/orders/", steps.step_orders, name="step_orders"),
    path("anomalies/", analytics.anomalies, name="anomalies"),
    path("trends/", trends.operation_trend, name="trend"),
    # Prometheus: a bearer token from allowed networks, no login (explorer/web/metrics.py)
    path("metrics", metrics.metrics, name="metrics"),
    # Uploads
    path("upload/", uploads.upload, name="upload"),
    path("upload/<str:key>/", uploads.upload_result, name="upload_result"),
    path(
        "upload/<str:key>/traces/<id:trace_id>/rows/",
        uploads.upload_rows,
        name="upload_trace_rows",
    ),
    path(
        "upload/<str:key>/traces/<id:trace_id>/stats/",
        uploads.upload_stats,
        name="upload_trace_stats",
    ),
    path(
        "upload/<str:key>/traces/<id:trace_id>/diagram/",
        uploads.upload_diagram,
        name="upload_trace_diagram",
    ),
    path(
        "upload/<str:key>/traces/<id:trace_id>/spans/<id:span_id>/",
        uploads.upload_span,
        name="upload_span",
    ),
    path(
        "upload/<str:key>/traces/<id:trace_id>/flame/",
        flame.upload_flame,
        name="upload_trace_flame",
    ),
    path(
        "upload/<str:key>/traces/<id:trace_id>/flame/boxes/",
        flame.upload_boxes,
        name="upload_trace_flame_boxes",
    ),
    path(
        "upload/<str:key>/traces/<id:trace_id>/flame/rows/<int:row>/",
        flame.upload_row,
        name="upload_trace_flame_row",
    ),
    path("upload/<str:key>/traces/<id:trace_id>/", uploads.upload_trace, name="upload_trace"),
]
