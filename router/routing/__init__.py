"""Stage 2, route: from a stored event to its rendered deliveries, in one transaction.

``route`` claims an event, fetches its object from the Plug&Pay API, checks that the object's state agrees
with the trigger (``state_check``), matches the rules, renders every action and stores the deliveries;
``route.plan`` is the pure part that the tools run too. ``render_thread`` decides where a plan renders (the
event loop, or the render thread for a slow one); ``undecided`` handles rules whose scope the API left
undecidable; ``backfill_choice`` is which rules a backfill event runs.
"""
