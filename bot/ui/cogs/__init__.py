"""Thin cogs: validate, defer if slow, one service call, a pure builder, reply."""
