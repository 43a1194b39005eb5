"""Identifiers: a short prefix naming the kind of thing, then 16 hex digits."""

import secrets


def new_id(prefix):
    return f"{prefix}_{secrets.token_hex(8)}"


def is_valid_id(value, prefix):
    head, _, tail = value.partition("_")
    return head == prefix and len(tail) == 16 and all(c in "0123456789abcdef" for c in tail)
