"""Alerts: telling the shop's owner, once and usefully, when something needs a person.

``message`` turns an alert (a kind, the items it is about, when they began) into what each channel sends:
a subject and text for mail, ``{"text", "alert"}`` JSON for an http channel, a line for Slack or Discord.
Channels are connectors the config already has (``alerts.channels``); ``alerts test`` sends one test alert
through each.
"""
