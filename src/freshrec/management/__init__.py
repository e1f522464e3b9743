"""Managing the engine's records: partial updates, paged listings, forgetting a user.

The engine wires these in (``Engine.patch_item``, ``Engine.list_items``,
``Engine.forget_user``); each module here owns one rule and knows nothing of HTTP.
"""
