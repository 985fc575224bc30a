"""The order lifecycle of Alexandrite, step by step, as a discrete-event simulation.

Each step is something a person or a system does at a moment of simulated time (a customer
places an order, a seller approves it, MES API consumes a message); it records its spans and
schedules the next step. Steps run in time order from a heap, so spans come out roughly
chronologically; memory holds a small record per order, never the spans.

Who sets which state (the owners of states.json): Shop API the first three states of shop
orders, MES API those of partner orders and every manufacturing state and the price, CRM API the
approval and the closing.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from explorer.simulation.instrument import (
    CRM_API_HOST,
    MES_API_HOST,
    PARTNER_HOST,
    SHOP_HOST,
    Action,
    AmqpMessage,
    Instrumentation,
)
from explorer.traces.vocabulary import CUSTOMER_KEY, CUSTOMER_TYPE_KEY, ORDER_KEY

MINUTE = 60 * 10**9
HOUR = 60 * MINUTE
DAY = 24 * HOUR
PARTNER_SHARE = 0.25
VIP_SHARE = 0.12
SELLER_HOURS = (9, 18, 5)  # from, to, working days a week (Monday first)
OPERATOR_HOURS = (8, 20, 6)
LAST_TASK_MARGIN = 30 * MINUTE  # a task (opening the order, clicking) takes up to ~20 min
# Now and then an order waits for days where it usually waits hours (the seller is on holiday,
# the operators have a backlog): longer than the state's limit, so it is stuck until then.
FORGOTTEN_REVIEW_SHARE = 0.03
FORGOTTEN_START_SHARE = 0.015
FORGOTTEN_DAYS = (4.5, 10)
PARTNER_AGENTS = ("GemTrade-Connector/2.3", "JewelHub-Sync/1.9", "partner-client/0.8 python")
MES_STEPS = (  # (state, endpoint verb, button)
    ("MANUFACTURING_STARTED", "start", "Start"),
    ("MANUFACTURING_COMPLETED", "complete", "Complete"),
    ("PACKAGING", "pack", "Pack"),
    ("SHIPPED", "ship", "Ship"),
)


@dataclass(slots=True)
class Customer:
    id: str
    type: str


@dataclass(slots=True)
class Order:
    id: str
    customer: Customer
    source: str  # "shop" | "partner_api"
    fault: str | None
    rng: random.Random  # the simulation's one seeded random source
    state: str | None = None  # as the owning systems set it
    fault_site: str = ""

    @property
    def business(self) -> dict[str, str]:
        return {
            ORDER_KEY: self.id,
            CUSTOMER_KEY: self.customer.id,
            CUSTOMER_TYPE_KEY: self.customer.type,
        }


def working_time(t: int, hours: tuple[int, int, int], rng: random.Random) -> int:
    """`t` if people work then, else a little after the next opening (epoch = a Monday 00:00).
    Nobody starts a task in the last LAST_TASK_MARGIN of the day: it would end after hours."""
    start_h, end_h, days = hours
    day, time_of_day = divmod(t, DAY)
    last_start = end_h * HOUR - LAST_TASK_MARGIN
    if day % 7 < days and start_h * HOUR <= time_of_day < last_start:
        return t
    if day % 7 >= days or time_of_day >= last_start:
        day += 1
        while day % 7 >= days:
            day += 1
    return day * DAY + start_h * HOUR + int(rng.uniform(1, 75) * MINUTE)


class Lifecycle:
    """Runs the steps of every order in simulated-time order."""

    def __init__(
        self,
        instrumentation: Instrumentation,
        epoch_ns: int,
        on_fault: Callable[[Order, str], None],
        on_state: Callable[[Order, Span], None],
    ) -> None:
        self._instrumentation = instrumentation
        self._epoch_ns = epoch_ns
        self._on_fault = on_fault
        self._on_state = on_state
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = 0

    # --- scheduling -----------------------------------------------------------------------

    def at(self, t: int, step: Callable[..., None], *args: Any) -> None:
        self._sequence += 1  # ties run in scheduling order, deterministically
        heapq.heappush(self._queue, (t, self._sequence, step, args))

    def run(self, until: int | None = None, pace: Callable[[int], bool] | None = None) -> None:
        """Run the steps in time order; with `until` (ns after the epoch), only those that
        start by then: what happens later is never simulated. `pace(t)` is asked before each
        step (it may wait for the wall clock); False stops the run."""
        while self._queue:
            t, _, step, args = heapq.heappop(self._queue)
            if until is not None and t > until:
                break
            if pace is not None and not pace(t):
                break
            step(t, *args)

    def start(self, order: Order, created_ns: int) -> None:
        if order.source == "shop":
            self.at(created_ns - int(order.rng.uniform(2, 25) * MINUTE), self.browse, order)
        else:
            self.at(created_ns, self.partner_create, order)

    def action(self, t: int, order: Order, business: dict[str, str] | None = None) -> Action:
        return Action(
            self._instrumentation,
            self._epoch_ns + t,
            order.rng,
            order.business if business is None else business,
        )

    def done(self, action: Action) -> int:
        return action.now - self._epoch_ns

    def set_state(self, action: Action, order: Order, span: Span, new: str) -> None:
        action.state_changed(span, order.state, new)
        order.state = new
        self._on_state(order, span)

    def wait(self, order: Order, forgotten_share: float, usual: int) -> int:
        """The usual wait, or (with probability `forgotten_share`) days: someone forgot."""
        if order.rng.random() < forgotten_share:
            return int(order.rng.uniform(*FORGOTTEN_DAYS) * DAY)
        return usual

    def fault(self, order: Order, kind: str) -> bool:
        """Whether `order` gets the fault `kind` (and records that it happened)."""
        if order.fault != kind:
            return False
        self._on_fault(order, kind)
        return True

    def deliver(
        self, t: int, order: Order, message: AmqpMessage, handler: Callable[..., None], hop: str
    ) -> None:
        """Hand `message` to its consumer a moment later, unless the queue loses it; a duplicate
        delivery hands it over again (`first` False), and the consumer does its work twice."""
        if order.fault_site == hop and self.fault(order, "lost_message"):
            return
        self.at(t + int(order.rng.uniform(5, 800) * 10**6), handler, order, message, True)
        if order.fault_site == hop and self.fault(order, "duplicate_delivery"):
            self.at(t + int(order.rng.uniform(2, 90) * 10**9), handler, order, message, False)

    # --- the Internet Shop ------------------------------------------------------------------

    def shop_call(
        self,
        a: Action,
        method: str,
        route: str,
        path: str,
        parent: Span | None = None,
        button: str | None = None,
    ):
        """A request from the Internet Shop to Shop API, optionally under a UI click span."""
        if button is None:
            return a.http("internet-shop", "shop-api", method, route, path, parent, SHOP_HOST)
        return self.clicked(a, "internet-shop", button, "shop-api", method, route, path, SHOP_HOST)

    @contextmanager
    def clicked(
        self,
        a: Action,
        ui: str,
        button: str,
        server: str,
        method: str,
        route: str,
        path: str,
        host: str,
    ) -> Iterator[Span]:
        """A click in a user interface that sends one request; yields the server span."""
        with a.span(ui, "ui", f"click {button}", None, attributes={"event_type": "click"}) as click:
            a.wait_ms(5, 40)
            with a.http(ui, server, method, route, path, click, host) as server_span:
                yield server_span

    def browse(self, t: int, order: Order) -> None:
        a = self.action(
            t, order, {CUSTOMER_KEY: order.customer.id, CUSTOMER_TYPE_KEY: order.customer.type}
        )
        with self.shop_call(a, "GET", "/api/items", "/api/items") as s:
            a.db(
                "shop-api",
                "shop",
                "SELECT",
                "items",
                "SELECT id, name, base_price FROM items WHERE active ORDER BY rank LIMIT $1",
                s,
            )
        for _ in range(order.rng.randint(1, 5)):
            a.now += int(order.rng.uniform(10, 150) * 10**9)
            item = order.rng.randint(100, 480)
            with self.shop_call(a, "GET", "/api/items/{id}", f"/api/items/{item}") as s:
                a.db("shop-api", "shop", "SELECT", "items", "SELECT * FROM items WHERE id = $1", s)
                a.db(
                    "shop-api",
                    "shop",
                    "SELECT",
                    "item_options",
                    "SELECT metal, stone, size FROM item_options WHERE item_id = $1",
                    s,
                )
        self.at(self.done(a) + int(order.rng.uniform(0.5, 6) * MINUTE), self.shop_create, order)

    def shop_create(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        with self.shop_call(a, "POST", "/api/orders", "/api/orders", button="Start design") as s:
            a.db(
                "shop-api",
                "shop",
                "INSERT",
                "orders",
                "INSERT INTO orders (id, customer_id, state) VALUES ($1, $2, $3)",
                s,
            )
            a.db(
                "shop-api",
                "shop",
                "INSERT",
                "order_items",
                "INSERT INTO order_items (order_id, item_id, options) VALUES ($1, $2, $3)",
                s,
            )
            self.set_state(a, order, s, "INITIATED")
        self.at(
            self.done(a) + int(order.rng.uniform(2, 40) * MINUTE),
            self.shop_upload,
            order,
            order.rng.randint(0, 2),
        )

    def shop_upload(self, t: int, order: Order, edits_left: int) -> None:
        a = self.action(t, order)
        path = f"/api/orders/{order.id}/model"
        with self.shop_call(a, "PUT", "/api/orders/{id}/model", path, button="Save model") as s:
            a.s3("shop-api", "PutObject", f"{order.id}/model.stl", s)
            a.db(
                "shop-api",
                "shop",
                "UPDATE",
                "orders",
                "UPDATE orders SET model_key = $2, updated_at = now() WHERE id = $1",
                s,
            )
            if order.state == "INITIATED":
                self.set_state(a, order, s, "FILE_UPLOADED")
            # Not in the architects' model: Shop API asks MES API for a quote directly.
            with a.http(
                "shop-api",
                "mes-api",
                "GET",
                "/api/quotes",
                f"/api/quotes?order={order.id}",
                s,
                MES_API_HOST,
            ) as quote:
                a.s3("mes-api", "HeadObject", f"{order.id}/model.stl", quote)
                a.db(
                    "mes-api",
                    "mes",
                    "SELECT",
                    "price_rules",
                    "SELECT metal, rate FROM price_rules WHERE valid_to IS NULL",
                    quote,
                )
        if edits_left:
            self.at(
                self.done(a) + int(order.rng.uniform(1, 30) * MINUTE),
                self.shop_upload,
                order,
                edits_left - 1,
            )
        else:
            self.at(self.done(a) + int(order.rng.uniform(3, 360) * MINUTE), self.shop_submit, order)

    def shop_submit(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        path = f"/api/orders/{order.id}/submit"
        with self.shop_call(a, "POST", "/api/orders/{id}/submit", path, button="Place order") as s:
            a.db(
                "shop-api",
                "shop",
                "SELECT",
                "orders",
                "SELECT id, state, model_key FROM orders WHERE id = $1",
                s,
            )
            update = "UPDATE orders SET state = $2, submitted_at = now() WHERE id = $1"
            if order.fault_site == "submit" and self.fault(order, "db_timeout"):
                a.db("shop-api", "shop", "UPDATE", "orders", update, s, timeout_ms=5000)
            a.db("shop-api", "shop", "UPDATE", "orders", update, s)
            self.set_state(a, order, s, "SUBMITTED")
        self.schedule_status_checks(self.done(a), order)
        self.at(self.done(a) + int(order.rng.uniform(5, 90) * 10**9), self.crm_sync, order)

    def schedule_status_checks(self, t: int, order: Order) -> None:
        for _ in range(order.rng.randint(1, 4)):
            self.at(t + int(order.rng.uniform(1, 200) * HOUR), self.status_check, order)

    def status_check(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        if order.source == "shop":
            path = f"/api/orders/{order.id}"
            with self.shop_call(a, "GET", "/api/orders/{id}", path) as s:
                a.db(
                    "shop-api",
                    "shop",
                    "SELECT",
                    "orders",
                    "SELECT id, state, price FROM orders WHERE id = $1",
                    s,
                )
            return
        path = f"/partner/v1/orders/{order.id}"
        with a.server(
            "mes-api",
            "GET",
            "/partner/v1/orders/{id}",
            path,
            None,
            PARTNER_HOST,
            user_agent=self.partner_agent(order),
        ) as s:
            a.db(
                "mes-api",
                "mes",
                "SELECT",
                "orders",
                "SELECT id, state, price FROM orders WHERE id = $1",
                s,
            )

    # --- partner API orders -----------------------------------------------------------------

    def partner_agent(self, order: Order) -> str:
        return PARTNER_AGENTS[int(order.customer.id[2:]) % len(PARTNER_AGENTS)]

    def partner_create(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        with a.server(
            "mes-api",
            "POST",
            "/partner/v1/orders",
            "/partner/v1/orders",
            None,
            PARTNER_HOST,
            user_agent=self.partner_agent(order),
        ) as s:
            a.db(
                "mes-api",
                "mes",
                "INSERT",
                "orders",
                "INSERT INTO orders (id, partner_id, state) VALUES ($1, $2, $3)",
                s,
            )
            self.set_state(a, order, s, "INITIATED")
        self.at(self.done(a) + int(order.rng.uniform(10, 600) * 10**9), self.partner_upload, order)

    def partner_upload(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        path = f"/partner/v1/orders/{order.id}/model"
        with a.server(
            "mes-api",
            "PUT",
            "/partner/v1/orders/{id}/model",
            path,
            None,
            PARTNER_HOST,
            user_agent=self.partner_agent(order),
        ) as s:
            a.s3("mes-api", "PutObject", f"{order.id}/model.stl", s)
            a.db(
                "mes-api",
                "mes",
                "UPDATE",
                "orders",
                "UPDATE orders SET model_key = $2 WHERE id = $1",
                s,
            )
            self.set_state(a, order, s, "FILE_UPLOADED")
        self.at(self.done(a) + int(order.rng.uniform(5, 1800) * 10**9), self.partner_submit, order)

    def partner_submit(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        path = f"/partner/v1/orders/{order.id}/submit"
        with a.server(
            "mes-api",
            "POST",
            "/partner/v1/orders/{id}/submit",
            path,
            None,
            PARTNER_HOST,
            user_agent=self.partner_agent(order),
        ) as s:
            update = "UPDATE orders SET state = $2 WHERE id = $1"
            if order.fault_site == "submit" and self.fault(order, "db_timeout"):
                a.db("mes-api", "mes", "UPDATE", "orders", update, s, timeout_ms=5000)
            a.db("mes-api", "mes", "UPDATE", "orders", update, s)
            self.set_state(a, order, s, "SUBMITTED")
            self.calculate_price(a, order, s)
            message = a.publish("mes-api", "orders.priced", s)
        self.schedule_status_checks(self.done(a), order)
        self.deliver(message.sent_ns - self._epoch_ns, order, message, self.crm_priced, "priced")

    # --- pricing in MES API -----------------------------------------------------------------

    def calculate_price(self, a: Action, order: Order, parent: Span) -> None:
        a.s3("mes-api", "GetObject", f"{order.id}/model.stl", parent)
        with a.span(
            "mes-api",
            "app",
            "PriceCalculator.Calculate",
            parent,
            attributes={"code.function.name": "PriceCalculator.Calculate"},
        ) as calc:
            a.db(
                "mes-api",
                "mes",
                "SELECT",
                "price_rules",
                "SELECT metal, rate FROM price_rules WHERE valid_to IS NULL",
                calc,
            )
            if self.fault(order, "slow_price"):
                a.wait_ms(9000, 25000)  # slow, yet it succeeds: an anomaly, not an error
            else:
                a.wait_ms(120, 900)
        a.db(
            "mes-api",
            "mes",
            "UPSERT",
            "orders",
            "INSERT INTO orders (id, price, state) VALUES ($1, $2, $3) ON CONFLICT (id) "
            "DO UPDATE SET price = $2, state = $3",
            parent,
        )
        self.set_state(a, order, parent, "PRICE_CALCULATED")

    def crm_sync(self, t: int, order: Order) -> None:
        """CRM API's job picks the submitted shop order from Shop DB and tells MES."""
        a = self.action(t, order)
        with a.span(
            "crm-api",
            "app",
            "OrderSyncJob.publishSubmitted",
            None,
            attributes={"code.function.name": "OrderSyncJob.publishSubmitted"},
        ) as job:
            a.db(
                "crm-api",
                "shop",
                "SELECT",
                "orders",
                "SELECT id, customer_id, model_key FROM orders WHERE id = $1",
                job,
            )
            message = a.publish("crm-api", "orders.submitted", job)
        self.deliver(message.sent_ns - self._epoch_ns, order, message, self.mes_price, "submitted")

    def mes_price(self, t: int, order: Order, message: AmqpMessage, first: bool) -> None:
        a = self.action(t, order)
        with a.consume("mes-api", message) as c:
            self.calculate_price(a, order, c)
            reply = a.publish("mes-api", "orders.priced", c)
        self.deliver(reply.sent_ns - self._epoch_ns, order, reply, self.crm_priced, "priced")

    # --- CRM: the seller --------------------------------------------------------------------

    def crm_priced(self, t: int, order: Order, message: AmqpMessage, first: bool) -> None:
        a = self.action(t, order)
        with a.consume("crm-api", message) as c:
            if order.source == "shop":
                a.db(
                    "crm-api",
                    "shop",
                    "UPDATE",
                    "orders",
                    "UPDATE orders SET price = $2 WHERE id = $1",
                    c,
                )
            else:
                a.db(
                    "crm-api",
                    "shop",
                    "INSERT",
                    "orders",
                    "INSERT INTO orders (id, customer_id, price, source) "
                    "VALUES ($1, $2, $3, 'partner_api') ON CONFLICT (id) DO NOTHING",
                    c,
                )
        if not first:
            return
        wait = self.wait(order, FORGOTTEN_REVIEW_SHARE, int(order.rng.uniform(10, 480) * MINUTE))
        review = working_time(self.done(a) + wait, SELLER_HOURS, order.rng)
        self.at(review, self.seller_review, order)

    def seller_review(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        path = f"/api/orders/{order.id}"
        with a.http("crm", "crm-api", "GET", "/api/orders/{id}", path, None, CRM_API_HOST) as s:
            a.db("crm-api", "shop", "SELECT", "orders", "SELECT * FROM orders WHERE id = $1", s)
            a.db(
                "crm-api",
                "shop",
                "SELECT",
                "customers",
                "SELECT id, name, type FROM customers WHERE id = $1",
                s,
            )
        a.now += int(order.rng.uniform(1, 20) * MINUTE)
        path = f"/api/orders/{order.id}/approve"
        route = "/api/orders/{id}/approve"
        failures = order.rng.randint(1, 2) if self.fault(order, "crm_5xx") else 0
        with a.span(
            "crm", "ui", "click Approve", None, attributes={"event_type": "click"}
        ) as click:
            for attempt in range(failures):
                with a.http(
                    "crm",
                    "crm-api",
                    "POST",
                    route,
                    path,
                    click,
                    CRM_API_HOST,
                    status=503,
                    resend_count=attempt,
                ):
                    a.wait_ms(20, 3000)  # the connection pool is exhausted
                a.wait_ms(500, 2000 * (attempt + 1))  # the CRM's retry back-off
            with a.http(
                "crm", "crm-api", "POST", route, path, click, CRM_API_HOST, resend_count=failures
            ) as s:
                a.db(
                    "crm-api",
                    "shop",
                    "UPDATE",
                    "orders",
                    "UPDATE orders SET state = $2, approved_by = $3 WHERE id = $1",
                    s,
                )
                self.set_state(a, order, s, "MANUFACTURING_APPROVED")
                message = a.publish("crm-api", "orders.approved", s)
        self.deliver(message.sent_ns - self._epoch_ns, order, message, self.mes_assign, "approved")

    def mes_assign(self, t: int, order: Order, message: AmqpMessage, first: bool) -> None:
        a = self.action(t, order)
        with a.consume("mes-api", message) as c:
            a.db(
                "mes-api",
                "mes",
                "INSERT",
                "assignments",
                "INSERT INTO assignments (order_id, operator_id) VALUES ($1, $2)",
                c,
            )
            a.db(
                "mes-api",
                "mes",
                "UPDATE",
                "orders",
                "UPDATE orders SET state = $2 WHERE id = $1",
                c,
            )
        if not first:
            return
        wait = self.wait(order, FORGOTTEN_START_SHARE, int(order.rng.uniform(0.5, 30) * HOUR))
        start = working_time(self.done(a) + wait, OPERATOR_HOURS, order.rng)
        self.at(start, self.operator_step, order, 0)

    # --- MES: the operator ------------------------------------------------------------------

    def operator_step(self, t: int, order: Order, index: int) -> None:
        state, verb, button = MES_STEPS[index]
        a = self.action(t, order)
        if index == 0:  # the operator looks through the list first: no single order
            listing = self.action(t, order, {})
            with listing.http(
                "mes", "mes-api", "GET", "/api/orders", "/api/orders?status=new", None, MES_API_HOST
            ) as s:
                listing.db(
                    "mes-api",
                    "mes",
                    "SELECT",
                    "orders",
                    "SELECT id, state, due FROM orders WHERE state = $1 LIMIT 50",
                    s,
                )
            a.now = listing.now + int(order.rng.uniform(0.5, 10) * MINUTE)
        with a.http(
            "mes",
            "mes-api",
            "GET",
            "/api/orders/{id}",
            f"/api/orders/{order.id}",
            None,
            MES_API_HOST,
        ) as s:  # the operator opens the order's card
            a.db("mes-api", "mes", "SELECT", "orders", "SELECT * FROM orders WHERE id = $1", s)
            a.db(
                "mes-api",
                "mes",
                "SELECT",
                "order_history",
                "SELECT state, at FROM order_history WHERE order_id = $1 ORDER BY at",
                s,
            )
        a.now += int(order.rng.uniform(0.2, 5) * MINUTE)
        path = f"/api/orders/{order.id}/{verb}"
        route = f"/api/orders/{{id}}/{verb}"
        with self.clicked(a, "mes", button, "mes-api", "POST", route, path, MES_API_HOST) as s:
            a.db(
                "mes-api",
                "mes",
                "SELECT",
                "assignments",
                "SELECT operator_id FROM assignments WHERE order_id = $1",
                s,
            )
            update = "UPDATE orders SET state = $2, updated_at = now() WHERE id = $1"
            if index == 0 and order.fault_site == "start" and self.fault(order, "db_timeout"):
                a.db("mes-api", "mes", "UPDATE", "orders", update, s, timeout_ms=5000)
            a.db("mes-api", "mes", "UPDATE", "orders", update, s)
            a.db(
                "mes-api",
                "mes",
                "INSERT",
                "order_history",
                "INSERT INTO order_history (order_id, state, at) VALUES ($1, $2, now())",
                s,
            )
            self.set_state(a, order, s, state)
            message = a.publish("mes-api", "orders.status", s)
        self.deliver(
            message.sent_ns - self._epoch_ns, order, message, self.crm_status, f"status-{index}"
        )
        index += 1
        if index == 1 and self.fault(order, "disallowed_transition"):
            index += 1  # the operator packs without marking the order completed
        if index == len(MES_STEPS):
            delivered = self.done(a) + int(order.rng.uniform(20, 96) * HOUR)
            self.at(delivered, self.close, order)
            return
        wait = {1: (2, 50), 2: (0.3, 20), 3: (1, 24)}[index]
        next_t = working_time(
            self.done(a) + int(order.rng.uniform(*wait) * HOUR), OPERATOR_HOURS, order.rng
        )
        self.at(next_t, self.operator_step, order, index)

    def crm_status(self, t: int, order: Order, message: AmqpMessage, first: bool) -> None:
        """CRM API mirrors MES's status into Shop DB."""
        a = self.action(t, order)
        with a.consume("crm-api", message) as c:
            a.db(
                "crm-api",
                "shop",
                "UPDATE",
                "orders",
                "UPDATE orders SET state = $2 WHERE id = $1",
                c,
            )
            if order.state == "MANUFACTURING_STARTED" and self.fault(order, "state_mismatch"):
                # A mapping bug on the Shop side: it records a state MES has not reached.
                a.state_changed(c, "MANUFACTURING_APPROVED", "MANUFACTURING_COMPLETED")

    # --- closing ----------------------------------------------------------------------------

    def close(self, t: int, order: Order) -> None:
        a = self.action(t, order)
        if order.rng.random() < 0.1:  # the seller closes it by hand
            a.now = working_time(a.now - self._epoch_ns, SELLER_HOURS, order.rng) + self._epoch_ns
            path = f"/api/orders/{order.id}/close"
            ctx = self.clicked(
                a,
                "crm",
                "Close order",
                "crm-api",
                "POST",
                "/api/orders/{id}/close",
                path,
                CRM_API_HOST,
            )
        else:  # the carrier reports the delivery
            ctx = a.server(
                "crm-api",
                "POST",
                "/api/carrier/deliveries",
                "/api/carrier/deliveries",
                None,
                CRM_API_HOST,
                user_agent="CarrierWebhook/3.0",
            )
        with ctx as s:
            a.db(
                "crm-api",
                "shop",
                "UPDATE",
                "orders",
                "UPDATE orders SET state = $2, closed_at = now() WHERE id = $1",
                s,
            )
            self.set_state(a, order, s, "CLOSED")
            message = a.publish("crm-api", "orders.closed", s)
        self.deliver(message.sent_ns - self._epoch_ns, order, message, self.mes_closed, "closed")

    def mes_closed(self, t: int, order: Order, message: AmqpMessage, first: bool) -> None:
        a = self.action(t, order)
        with a.consume("mes-api", message) as c:
            a.db(
                "mes-api",
                "mes",
                "UPDATE",
                "orders",
                "UPDATE orders SET state = 'CLOSED', closed_at = now() WHERE id = $1",
                c,
            )
