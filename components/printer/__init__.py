"""The printer link: Marlin protocol engine, state machine and report parsing."""
