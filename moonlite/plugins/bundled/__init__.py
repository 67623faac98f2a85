"""Plugins that ship with moonlite (loaded unless listed in `[plugins] disabled`)."""
