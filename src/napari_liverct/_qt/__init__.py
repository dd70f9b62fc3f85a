"""Qt/magicgui widgets: thin adapters that gather inputs, call the core, show results."""
