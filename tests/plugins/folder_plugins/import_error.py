"""A plugin that cannot even be imported: listed in failed_plugins."""

raise ImportError("this example plugin is broken on purpose")
