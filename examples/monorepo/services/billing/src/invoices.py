"""The billing service: one invoice per visit."""

from common import format_cents, new_id

VISIT_PRICE_CENTS = 4500


def invoice_for_visit(visit):
    minutes = visit["duration_minutes"]
    cents = VISIT_PRICE_CENTS * max(1, (minutes + 29) // 30)
    return {
        "id": new_id("inv"),
        "visit_id": visit["id"],
        "amount_cents": cents,
        "amount": format_cents(cents),
    }
