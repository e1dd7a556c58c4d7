"""Shipped adapter and heads for the e5 scorer (data files; see models/MODEL_CARD.md)."""
