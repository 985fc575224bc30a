"""WSGI entry point for production servers (gunicorn explorer.wsgi).

Each worker warms up (explorer.web.warmup: templates compiled, URLs and catalogs loaded, the
configuration read, the garbage collector's view frozen) before it answers: a fresh process's
first page then costs what the page itself costs."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "explorer.settings")
application = get_wsgi_application()

from explorer.web.warmup import warm_up  # noqa: E402 (needs Django set up, above)

warm_up()
