"""The catalogue of seed 002's events as moonlite fires them (mirrors docs/events.md)."""

from __future__ import annotations

#: the payload keys seed 002 documents for each event, deprecated keys included
SEED_KEYS: dict[str, frozenset[str]] = {
    # server
    "Startup": frozenset(),
    "Shutdown": frozenset(),
    "ClientOpened": frozenset({"remoteAddress"}),
    "ClientClosed": frozenset({"remoteAddress"}),
    # printer communication
    "Connecting": frozenset(),
    "Connected": frozenset({"port", "baudrate"}),
    "Disconnecting": frozenset(),
    "Disconnected": frozenset(),
    "Error": frozenset({"error"}),
    "PrinterStateChanged": frozenset({"state_id", "state_string"}),
    # file handling
    "Upload": frozenset({"name", "path", "target", "file"}),
    "FileAdded": frozenset({"storage", "path", "name", "type"}),
    "FileRemoved": frozenset({"storage", "path", "name", "type"}),
    "FolderAdded": frozenset({"storage", "path", "name"}),
    "FolderRemoved": frozenset({"storage", "path", "name"}),
    "UpdatedFiles": frozenset({"type"}),
    "MetadataAnalysisStarted": frozenset({"name", "path", "origin", "file"}),
    "MetadataAnalysisFinished": frozenset({"name", "path", "origin", "result", "file"}),
    "FileSelected": frozenset({"name", "path", "origin", "file", "filename"}),
    "FileDeselected": frozenset(),
    "TransferStarted": frozenset({"local", "remote"}),
    "TransferDone": frozenset({"time", "local", "remote"}),
    # printing
    "PrintStarted": frozenset({"name", "path", "origin", "file", "filename"}),
    "PrintFailed": frozenset({"name", "path", "origin", "file", "filename"}),
    "PrintDone": frozenset({"name", "path", "origin", "time", "file", "filename"}),
    "PrintCancelled": frozenset({"name", "path", "origin", "position", "file", "filename"}),
    "PrintPaused": frozenset({"name", "path", "origin", "position", "file", "filename"}),
    "PrintResumed": frozenset({"name", "path", "origin", "file", "filename"}),
    # G-code processing
    "PowerOn": frozenset(),
    "PowerOff": frozenset(),
    "Home": frozenset(),
    "ZChange": frozenset(),  # the seed names no keys; moonlite sends new/old (contracts.md)
    "Dwell": frozenset(),
    "Waiting": frozenset(),
    "Cooling": frozenset(),
    "Alert": frozenset(),
    "Conveyor": frozenset(),
    "Eject": frozenset(),
    "EStop": frozenset(),
    "PositionUpdate": frozenset({"x", "y", "z", "e", "t", "f"}),
    "ToolChange": frozenset({"old", "new"}),
    # slicing (the plugin slicing manager)
    "SlicingStarted": frozenset({"stl", "stl_location", "gcode", "gcode_location",
                                 "progressAvailable"}),
    "SlicingDone": frozenset({"stl", "stl_location", "gcode", "gcode_location", "time"}),
    "SlicingCancelled": frozenset({"stl", "stl_location", "gcode", "gcode_location"}),
    "SlicingFailed": frozenset({"stl", "stl_location", "gcode", "gcode_location", "reason"}),
    # settings
    "SettingsUpdated": frozenset(),
}

_DURATIONS = frozenset({"size", "print_duration", "total_duration", "filament_used"})

#: keys moonlite adds to the seed's payload (contracts.md); always present
MOONLITE_EXTRAS: dict[str, frozenset[str]] = {
    "PrintStarted": frozenset({"size", "job_source"}),
    "PrintDone": _DURATIONS,
    "PrintFailed": _DURATIONS | {"reason", "time", "error"},
    "PrintCancelled": _DURATIONS,
    "PrintPaused": frozenset({"size"}),
    "PrintResumed": frozenset({"size"}),
    "ZChange": frozenset({"new", "old"}),
}

#: every event moonlite fires, with the keys each of its payloads carries
CATALOGUE: dict[str, frozenset[str]] = {
    event: keys | MOONLITE_EXTRAS.get(event, frozenset()) for event, keys in SEED_KEYS.items()
}

#: the keys of `position` in PrintPaused / PrintCancelled (seed: position.x … position.f)
POSITION_KEYS = frozenset({"x", "y", "z", "e", "t", "f"})

#: seed 002 events moonlite does not fire, and why (docs/events.md says the same)
NOT_FIRED: dict[str, str] = {
    "ConnectivityChanged": "moonlite makes no internet connectivity checks",
    "CaptureStart": "no timelapse component",
    "CaptureDone": "no timelapse component",
    "CaptureFailed": "no timelapse component",
    "MovieRendering": "no timelapse component",
    "MovieDone": "no timelapse component",
    "MovieFailed": "no timelapse component",
    "SlicingProfileAdded": "slicing profiles are files in the slicer plugin's data folder; "
                           "no API adds, changes or deletes them",
    "SlicingProfileModified": "no slicing profile API (see SlicingProfileAdded)",
    "SlicingProfileDeleted": "no slicing profile API (see SlicingProfileAdded)",
}
