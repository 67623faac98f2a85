"""Example moonlite plugins, one per plugin mixin (installed through entry points)."""

TRACE_EVENT = "plugin_example_trace"
