"""No table: the model the admin's "Forget a customer" page hangs on, and its permission
(erasure.forget_customer, granted to administrators: accounts/roles.py)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    class Meta:
        managed = False
        db_table = "erasure_customer_never_created"
        default_permissions = ()
        permissions = [("forget_customer", "Forget a customer: erase everything stored of them")]
        verbose_name = _("customer to forget")
        verbose_name_plural = _("forget a customer")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
