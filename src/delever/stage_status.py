"""Statuses the liquidation kernels return to their Python driver (:func:`delever.liquidation_stage.run_stage`): done,
or stopped before touching the position at the returned index because a queue, an allocation or the event buffer
must be prepared first."""

from __future__ import annotations

DONE = 0
NEED_QUEUE_LONGS = 1
"""The queue of long counterparties (for a bankrupt short) must be extended."""
NEED_QUEUE_SHORTS = 2
"""The queue of short counterparties (for a bankrupt long) must be extended."""
NEED_EVENTS = 3
NEED_ALLOC_LONGS = 4
"""Allocation policy: prepare the long counterparties' lots for the bankrupt short at the returned index."""
NEED_ALLOC_SHORTS = 5
"""Allocation policy: prepare the short counterparties' lots for the bankrupt long at the returned index."""
