"""Loadable components, one per config section, imported as `moonlite.components.<name>`."""
