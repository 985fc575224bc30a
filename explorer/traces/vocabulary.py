"""The business vocabulary the instrumented services put on their spans (DOMAIN.md): which
attribute names an order, its customer and the customer's type, and the span event that says
the order changed state. One place, so that assembly, search, pages, redaction, the remote
backends' indexed keys and the simulation cannot spell them apart.
"""

ORDER_KEY = "order.id"
CUSTOMER_KEY = "customer.id"
CUSTOMER_TYPE_KEY = "customer.type"
# What every trace source indexes for look-ups by default (the remote backends' search keys).
BUSINESS_KEYS = (ORDER_KEY, CUSTOMER_KEY, CUSTOMER_TYPE_KEY)

# The span event of a state change and its attributes (the state graph may name others).
STATE_EVENT = "order.state_changed"
NEW_STATE_KEY = "order.state.new"
PREVIOUS_STATE_KEY = "order.state.previous"
