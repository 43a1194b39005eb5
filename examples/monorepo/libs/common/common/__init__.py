"""Helpers shared by the clinic services."""

from .ids import new_id, is_valid_id
from .money import format_cents

__all__ = ["new_id", "is_valid_id", "format_cents"]
