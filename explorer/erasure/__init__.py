"""Erasing a customer (docs/security.md "Forgetting a customer"): `manage.py forget-customer`
and the administrators' page in the admin find everything stored that carries a customer id
(finding.py) and remove it or rewrite it without the id (forgetting.py)."""
