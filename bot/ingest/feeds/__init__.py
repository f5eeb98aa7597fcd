"""Feeds: fetching (``fetch``), address rules (``addresses``), parsing and normalising entries
(``parse``, ``jsonfeed``, ``html``), and the pure polling rules (``states``)."""
