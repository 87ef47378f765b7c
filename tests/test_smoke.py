from customer_flow.hub import Hub
from customer_flow.models import CustomerCreate


def test_add_and_get(hub: Hub) -> None:
    c = hub.add_customer(CustomerCreate(name="Ana", email="ana@lima.pt"))
    assert c == hub.get_customer(c.id)
