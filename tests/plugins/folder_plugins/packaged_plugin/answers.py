"""A sibling module of the package plugin."""

ANSWER = 42
