"""{% result_charts traces %}: the scatter plot and histogram of a list of traces found
(explorer/web/result_charts.py), under the rows explorer.web.trace_list.trace_rows makes."""

from django import template

from explorer.web.result_charts import histogram_svg, points_of, scatter_svg

register = template.Library()


@register.inclusion_tag("web/_result_charts.html")
def result_charts(rows):
    points = points_of(rows)
    return {
        "scatter": scatter_svg(points),
        "histogram": histogram_svg([p.duration_ns for p in points]),
    }
