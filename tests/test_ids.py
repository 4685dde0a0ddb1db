"""apitest.ids: the random ids of the hot path."""

from __future__ import annotations

import uuid

from apitest.ids import _POOL_IDS, random_uuid4


def test_generated_ids_are_distinct_version_4_uuids_in_their_usual_form() -> None:
    ids = [random_uuid4() for _ in range(3 * _POOL_IDS + 7)]  # across pool refills
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
