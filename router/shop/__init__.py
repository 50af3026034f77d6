"""The shop side: working with what the shop has in Plug&Pay beyond single webhooks.

``reconcile`` lists recent objects and creates the events whose webhook never came, ``backfill`` runs rules
over past objects, and ``connect`` plans and creates the shop's own Webhook V2 rules that the YAML needs.
"""
