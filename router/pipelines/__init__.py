"""The pipelines: what runs for each shop the router serves, one ``Pipeline`` per shop.

``pipeline`` is one shop's receiver, route and deliver loops and reconciler over what its config built
(``router.loaded``); ``fleet`` holds the pipelines of one daemon, finds a shop by its webhook path, and
applies a reloaded config shop by shop, so one shop's broken rules never stop another. A router without
``shops:`` has one pipeline, and works as it always did.
"""
