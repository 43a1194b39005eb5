"""The visits service: book a visit, look one up."""

import os

from common import new_id

LOG_LEVEL = os.environ.get("LOG_LEVEL", "info")

_visits = {}


def book_visit(patient_id, clinic_id, starts_at, duration_minutes=30):
    visit = {
        "id": new_id("visit"),
        "patient_id": patient_id,
        "clinic_id": clinic_id,
        "starts_at": starts_at,
        "duration_minutes": duration_minutes,
    }
    _visits[visit["id"]] = visit
    return visit


def get_visit(visit_id):
    return _visits.get(visit_id)
