"""What forgetting a user erased (``Engine.forget_user``).

The engine does the work: the store empties the user's events in place (holes keep their
offsets, see ``store.base.FORGOTTEN``), the measurement log deletes their lists, and the
state is built again from the logs. This is the receipt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Forgotten:
    """Counts of what ``forget_user`` erased for one user.

    Attributes:
        user_id: who was forgotten.
        profile: whether a stored profile was deleted.
        events: events erased from the log.
        lists: served lists erased from the measurement log.
    """

    user_id: str
    profile: bool
    events: int
    lists: int

    def to_dict(self) -> dict[str, Any]:
        """The receipt as JSON-ready fields."""
        return asdict(self)
