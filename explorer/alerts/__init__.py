"""Alerts: tell the people who act when an order is lost, stuck or breaks the state graph and
when an endpoint breaks its SLA or turns atypically slow; once per condition, with what to do,
and again when it ends (docs/alerts.md)."""
