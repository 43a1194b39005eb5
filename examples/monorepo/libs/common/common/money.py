"""Money is kept in integer cents."""


def format_cents(cents, currency="EUR"):
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d} {currency}"
