"""A module without __plugin_implementation__: listed in failed_plugins."""

VALUE = 1
